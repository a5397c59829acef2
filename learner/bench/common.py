"""What every benchmark shares: the machine's facts, paper.yaml with the bench's overrides, the
paper-sized models and a batch of their samples, and a median wall-clock timer."""
from __future__ import annotations

import os
import platform
import statistics
import time

import torch

from seqgan.config import Config
from seqgan.config_files import load_config
from seqgan.models import build_discriminator, build_generator
from seqgan.seeding import uniforms

PAPER = "deploy/configs/paper.yaml"


def machine(device: torch.device = torch.device("cpu")) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    facts = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
             "torch": torch.__version__, "python": platform.python_version()}
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts


def paper_config(seq_len: int, rollouts: int, overrides: list[str] = ()) -> Config:
    """paper.yaml with `overrides` (the user's --set first, so the bench's own flags win)."""
    if not os.path.exists(PAPER):
        raise FileNotFoundError(f"{PAPER} not found: run the benchmark from the project root")
    return load_config(PAPER, [*overrides, f"model.seq_len={seq_len}", f"rollout.num_rollouts={rollouts}"])


def paper_models(config: Config, device: torch.device | str = "cpu"):
    torch.manual_seed(0)
    generator = build_generator(config.model, config.generator).init_normal_(config.generator.init_std).eval()
    disc = build_discriminator(config.model, config.discriminator).init_paper_().eval()
    generator, disc = generator.to(device), disc.to(device)
    samples = generator.sample(uniforms(0, (config.data.batch_size, config.model.seq_len), device))
    return generator, disc, samples


def seconds(fn, repeats: int) -> float:
    """Median wall seconds of `fn`; waits for queued GPU work, so GPU times are not launch times."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
