"""0 workers: the same worker code, run in this process (tests, debugging)."""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from actors.worker import RolloutWorker, UnitResult
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import Config
from seqgan.packing import PackedWeights


def usable_cores() -> int:
    """The cores this process may run on: `taskset` and container CPU sets narrow it below
    os.cpu_count(), and a thread per unusable core only adds contention."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def torch_threads(count: int):
    """Run with `count` intra-op threads: CPU kernels round differently with other thread counts,
    so the inline worker uses the actors' count to give bit-identical results."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


class InlinePool:
    def __init__(self, config: Config, device: str = "cpu"):
        self.worker = RolloutWorker(config, device)
        self.threads = config.rollout.torch_threads
        self.device_kind = self.worker.device.type  # sizes the work units (seqgan/sizing.py)

    def publish(self, name: str, version: int, packed: PackedWeights) -> None:
        self.worker.set_weights(packed)

    def run(self, units: list[RewardUnit | SampleUnit], samples: torch.Tensor | None = None) -> list[UnitResult]:
        with torch_threads(self.threads):
            return [self.worker.run(unit, samples) for unit in units]

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass
