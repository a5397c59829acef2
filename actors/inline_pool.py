"""0 workers: the same worker code, run in this process (tests, debugging)."""
from __future__ import annotations

from contextlib import contextmanager

import torch

from actors.worker import RewardMethod, RolloutWorker, UnitResult
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import Config
from seqgan.packing import PackedWeights


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
    def __init__(self, config: Config, method: RewardMethod, device: str = "cpu"):
        self.worker = RolloutWorker(config, method, device)
        self.threads = config.rollout.torch_threads
        self.device_kind = self.worker.device.type  # sizes the work units (seqgan/sizing.py)

    def publish(self, name: str, version: int, payload: PackedWeights) -> None:
        self.worker.set_weights(payload)

    def run(self, units: list[RewardUnit | SampleUnit], samples: torch.Tensor | None = None) -> list[UnitResult]:
        with torch_threads(self.threads):
            return [self.worker.run(unit, samples) for unit in units]

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass
