"""Peak memory of one reward computation, for `seqgan bench rollout`.

CPU: the growth of peak RSS in a fresh process. torch's CPU tensors are invisible to tracemalloc,
and a warm process keeps freed memory (seqgan/allocator.py), which a second run reuses unseen; so a
child process builds the models, pages in the kernels' code with a one-completion unit, then
measures its RSS high-water mark over the whole computation (Linux resets it through
/proc/self/clear_refs; elsewhere ru_maxrss, which includes the smaller start-up peak).
GPU: torch.cuda.max_memory_allocated over the computation, in this process.
"""
from __future__ import annotations

import json
import re
import resource
import subprocess
import sys

import torch

from learner.bench.common import paper_config, paper_models
from learner.bench.text_work import text_setup
from rewards.rollout import unit_reward_sums
from rewards.units import RewardUnit, batch_reward_units
from seqgan.allocator import reuse_freed_memory
from seqgan.sizing import resolve_units

CHILD = "from learner.bench.memory import child; child()"


def peak_bytes(config_args: dict, device: torch.device) -> int:
    """Peak bytes a reward computation adds, for the bench config `config_args` (paper_config's)."""
    if device.type == "cuda":
        return cuda_peak_bytes(config_args, device)
    spec = json.dumps({**config_args, "threads": torch.get_num_threads()})
    out = subprocess.run([sys.executable, "-c", CHILD, spec], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def _setup(config_args: dict, device: torch.device):
    if "text" in config_args:  # bench rollout --config: a text batch (learner/bench/text.py)
        config, generator, disc, samples = text_setup(config_args["text"], device)
    else:
        config = paper_config(config_args["seq_len"], config_args["rollouts"], config_args["overrides"])
        generator, disc, samples = paper_models(config, device)
    units = batch_reward_units(config, device.type, len(samples), 0)
    return generator, disc, samples, units, resolve_units(config, device.type)


def _compute(generator, disc, samples, units, sizes) -> None:
    for unit in units:
        unit_reward_sums(generator, disc, samples, unit, sizes)


def cuda_peak_bytes(config_args: dict, device: torch.device) -> int:
    generator, disc, samples, units, sizes = _setup(config_args, device)
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    _compute(generator, disc, samples, units, sizes)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def child() -> None:
    """Runs in the fresh process: prints the peak RSS growth of one reward computation, in bytes."""
    spec = json.loads(sys.argv[1])
    reuse_freed_memory()  # as the CLI and the actors run
    torch.set_num_threads(spec["threads"])
    generator, disc, samples, units, sizes = _setup(spec, torch.device("cpu"))
    unit_reward_sums(generator, disc, samples, RewardUnit(0, 0, 1, 1, 2, 0, 1, 0, 0), sizes)  # code paged in
    before = _status_kib("VmRSS")
    reset = _reset_high_water_mark()
    _compute(generator, disc, samples, units, sizes)
    peak_kib = _status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(max(0, peak_kib - before) * 1024)
