"""The interface of a rollout pool, whether its worker runs in this process (inline_pool.py) or in
Ray actors (ray_pool.py): the driver publishes weights to it and runs work units on it."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from actors.worker import UnitResult
from rewards.units import RewardUnit, SampleUnit
from seqgan.packing import PackedWeights


@runtime_checkable
class Pool(Protocol):
    device_kind: str  # "cpu" or "cuda": what the workers run on; sizes the work units

    def publish(self, name: str, version: int, payload: PackedWeights) -> None:
        """Make `version` of model `name` the one every later unit uses (the same payload for all)."""

    def run(self, units: list[RewardUnit | SampleUnit], samples: torch.Tensor | None = None) -> list[UnitResult]:
        """Each unit's result, in the order of `units` (reward units complete `samples` [B, T])."""

    def stats(self) -> dict:
        """Counters since the last call (units re-run, version lag), logged with each iteration."""

    def close(self) -> None:
        """Release the workers."""
