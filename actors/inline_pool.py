"""0 workers: the same worker code, run in this process (tests, debugging)."""
from __future__ import annotations

import torch

from actors.worker import RolloutWorker, UnitResult
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import Config
from seqgan.packing import PackedWeights


class InlinePool:
    def __init__(self, config: Config, device: str = "cpu"):
        self.worker = RolloutWorker(config, device)

    def publish(self, name: str, version: int, packed: PackedWeights) -> None:
        self.worker.set_weights(packed)

    def run(self, units: list[RewardUnit | SampleUnit], samples: torch.Tensor | None = None) -> list[UnitResult]:
        return [self.worker.run(unit, samples) for unit in units]

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass
