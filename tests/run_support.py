"""Running `seqgan` as a user would, in subprocesses, and comparing the records of runs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Fields that measure time or faults rather than what was computed.
NOT_COMPARED = ("version_lag_max", "units_rerun", "learner_restarts")
# The smoke preset, smaller still (inline): a run takes a few seconds of one core.
TINY_SMOKE = ["rollout.num_workers=0", "data.num_train=64", "data.num_test=32", "data.batch_size=16",
              "train.eval_samples=64", "train.mle_epochs=2", "train.disc_pretrain_rounds=1",
              "train.adv_iterations=2"]


def comparable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("time_") and k not in NOT_COMPARED} for r in records]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def start(*args, log: Path) -> subprocess.Popen:
    """`seqgan ARGS` in its own session (signals to it reach nothing else), output to `log`."""
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "learner.cli", *map(str, args)], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_records(run: Path, count: int, process: subprocess.Popen, timeout: float = 300) -> None:
    """Until metrics.jsonl has `count` lines; the process must still be running then."""
    deadline = time.monotonic() + timeout
    path = run / "metrics.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            assert process.poll() is None, "the run ended before it could be stopped"
            return
        assert process.poll() is None, f"the run exited early with {process.returncode}"
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} records")


def descendants(process: subprocess.Popen) -> list:
    import psutil
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def all_gone(processes: list, timeout: float = 20) -> list:
    """Those of `processes` still alive after `timeout` seconds."""
    import psutil
    _, alive = psutil.wait_procs([p for p in processes if p.is_running()], timeout=timeout)
    return [f"{p.pid} {p.name()}" for p in alive if p.is_running()]


def kill_group(process: subprocess.Popen, signum: int = signal.SIGKILL) -> None:
    os.killpg(process.pid, signum)


def recording_pool(config):
    """An inline pool that also lists every (model, version) it is handed to publish."""
    from actors.inline_pool import InlinePool
    from learner.methods import method_for

    class RecordingPool(InlinePool):
        def __init__(self, config):
            super().__init__(config, method_for(config))
            self.published = []

        def publish(self, name, version, payload):
            self.published.append((name, version))
            super().publish(name, version, payload)

    return RecordingPool(config)
