"""The rollout worker: owns copies of G (fresh samples) and of what the run's training method
computes rewards with (the rollout policy and D, or PG-BLEU's references), and computes Monte Carlo
rewards and samples for the work units it is given. No Ray here: the inline pool runs it in-process
and the Ray pool wraps it in an actor."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from actors.sync import DISCRIMINATOR, GENERATOR, ROLLOUT, Held
from rewards.rollout import unit_reward_sums
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import Config
from seqgan.models import build_discriminator, build_generator
from seqgan.packing import PackedWeights
from seqgan.sizing import resolve_units


class RewardMethod(Protocol):
    """What a worker asks of the run's training method (learner/methods/ implements it)."""
    worker_models: tuple[str, ...]

    def models_used(self, unit: RewardUnit | SampleUnit) -> tuple[str, ...]: ...

    def reward_scorer(self, held: Held): ...


@dataclass
class UnitResult:
    unit_index: int
    value: torch.Tensor  # reward sums [samples, prefixes] or tokens [count, T]
    versions: dict[str, int]  # weight versions the result was computed with
    versions_before: dict[str, int] = field(default_factory=dict)  # held when the unit arrived (-1: none)


class RolloutWorker:
    def __init__(self, config: Config, method: RewardMethod, device: str = "cpu"):
        self.config, self.method = config, method
        self.device = torch.device(device)
        builders = {GENERATOR: lambda: build_generator(config.model, config.generator),
                    ROLLOUT: lambda: build_generator(config.model, config.generator),
                    DISCRIMINATOR: lambda: build_discriminator(config.model, config.discriminator)}
        # Workers only score and sample: eval mode (no dropout), no gradients.
        models = {name: builders[name]().to(self.device).eval().requires_grad_(False)
                  for name in method.worker_models if name in builders}
        self.held = Held(models, method.worker_models)
        self.sizes = resolve_units(config, self.device.type)  # how a unit is cut to fit the memory budget

    @property
    def versions(self) -> dict[str, int]:
        return self.held.versions

    def set_weights(self, packed: PackedWeights) -> bool:
        """Apply `packed` if it is newer than what this worker holds; a stale version is ignored."""
        return self.held.apply(packed)

    def run(self, unit: RewardUnit | SampleUnit, samples: torch.Tensor | None = None) -> UnitResult:
        versions = self.held.require(self.method.models_used(unit))
        if isinstance(unit, RewardUnit):
            if samples is None:
                raise ValueError("a reward unit needs the batch of samples it completes")
            value = unit_reward_sums(self.held.models[ROLLOUT], self.method.reward_scorer(self.held),
                                     samples.to(self.device), unit, self.sizes)
        else:
            value = self.held.models[GENERATOR].sample(unit.draws(self.config.model.seq_len, self.device))
        return UnitResult(unit.index, value.cpu(), versions)
