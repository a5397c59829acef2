"""The rollout worker: owns copies of G (fresh samples), the rollout policy and D, and computes
Monte Carlo rewards and samples for the work units it is given. No Ray here: the inline pool runs
it in-process and the Ray pool wraps it in an actor."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rewards.rollout import unit_reward_sums
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import Config
from seqgan.models import build_discriminator, build_generator
from seqgan.packing import PackedWeights, load_into
from seqgan.sizing import resolve_units

MODELS = ("generator", "rollout", "discriminator")


class WeightsLost(RuntimeError):
    """Published weights can no longer be fetched (the node that held them is gone): the run goes
    back to its latest checkpoint and publishes again."""


@dataclass
class UnitResult:
    unit_index: int
    value: torch.Tensor  # reward sums [samples, prefixes] or tokens [count, T]
    versions: dict[str, int]  # weight versions the result was computed with
    versions_before: dict[str, int] = field(default_factory=dict)  # held when the unit arrived (-1: none)


def models_used(unit: RewardUnit | SampleUnit) -> tuple[str, ...]:
    """The models a unit needs: rewards use the rollout policy and D, fresh samples use G."""
    return ("rollout", "discriminator") if isinstance(unit, RewardUnit) else ("generator",)


class RolloutWorker:
    def __init__(self, config: Config, device: str = "cpu"):
        self.config = config
        self.device = torch.device(device)
        generator = build_generator(config.model, config.generator)
        rollout = build_generator(config.model, config.generator)
        discriminator = build_discriminator(config.model, config.discriminator)
        # Workers only score and sample: eval mode (no dropout), no gradients.
        self.models = {name: m.to(self.device).eval().requires_grad_(False)
                       for name, m in zip(MODELS, (generator, rollout, discriminator))}
        self.versions = {name: -1 for name in MODELS}
        self.sizes = resolve_units(config, self.device.type)  # how a unit is cut to fit the memory budget

    def set_weights(self, packed: PackedWeights) -> bool:
        """Apply `packed` if it is newer than what this worker holds; a stale version is ignored."""
        name, version = packed.model, packed.version
        if name not in self.models:
            raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")
        if version <= self.versions[name]:
            return False
        load_into(self.models[name], packed)
        self.versions[name] = version
        return True

    def _require_weights(self, names: tuple[str, ...]) -> None:
        missing = [n for n in names if self.versions[n] < 0]
        if missing:
            raise RuntimeError(f"worker has no weights for {missing} yet; publish them first")

    def run(self, unit: RewardUnit | SampleUnit, samples: torch.Tensor | None = None) -> UnitResult:
        used = models_used(unit)
        self._require_weights(used)
        if isinstance(unit, RewardUnit):
            if samples is None:
                raise ValueError("a reward unit needs the batch of samples it completes")
            value = unit_reward_sums(self.models["rollout"], self.models["discriminator"],
                                     samples.to(self.device), unit, self.sizes)
        else:
            value = self.models["generator"].sample(unit.draws(self.config.model.seq_len, self.device))
        return UnitResult(unit.index, value.cpu(), {n: self.versions[n] for n in used})
