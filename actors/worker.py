"""The rollout worker: owns copies of G (fresh samples), the rollout policy and D (or, for PG-BLEU,
the training references' BLEU table), and computes Monte Carlo rewards and samples for the work
units it is given. No Ray here: the inline pool runs
it in-process and the Ray pool wraps it in an actor."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rewards.bleu.reward import REFERENCES, BleuRewardScorer, ReferenceTokens
from rewards.rollout import unit_reward_sums
from rewards.scoring import DiscriminatorScorer
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import Config
from seqgan.models import build_discriminator, build_generator
from seqgan.packing import PackedWeights, load_into
from seqgan.sizing import resolve_units

MODELS = ("generator", "rollout", "discriminator")  # the learner's models (and a checkpoint's)


class WeightsLost(RuntimeError):
    """Published weights can no longer be fetched (the node that held them is gone): the run goes
    back to its latest checkpoint and publishes again."""


@dataclass
class UnitResult:
    unit_index: int
    value: torch.Tensor  # reward sums [samples, prefixes] or tokens [count, T]
    versions: dict[str, int]  # weight versions the result was computed with
    versions_before: dict[str, int] = field(default_factory=dict)  # held when the unit arrived (-1: none)


def reward_models(method: str) -> tuple[str, ...]:
    """What rewards are computed with: the rollout policy and D, or for pg_bleu the references."""
    return ("rollout", REFERENCES) if method == "pg_bleu" else ("rollout", "discriminator")


def worker_models(method: str) -> tuple[str, ...]:
    """Everything a worker of this train.method holds, each with its version."""
    return ("generator", *reward_models(method))


def models_used(unit: RewardUnit | SampleUnit, method: str) -> tuple[str, ...]:
    """The models a unit needs: rewards those of `reward_models`, fresh samples G."""
    return reward_models(method) if isinstance(unit, RewardUnit) else ("generator",)


class RolloutWorker:
    def __init__(self, config: Config, device: str = "cpu"):
        self.config = config
        self.method = config.train.method
        self.device = torch.device(device)
        builders = {"generator": lambda: build_generator(config.model, config.generator),
                    "rollout": lambda: build_generator(config.model, config.generator),
                    "discriminator": lambda: build_discriminator(config.model, config.discriminator)}
        held = worker_models(self.method)
        # Workers only score and sample: eval mode (no dropout), no gradients.
        self.models = {name: builders[name]().to(self.device).eval().requires_grad_(False)
                       for name in held if name in builders}
        self.bleu_table = None  # pg_bleu: counted from the published references, once per version
        self.versions = {name: -1 for name in held}
        self.sizes = resolve_units(config, self.device.type)  # how a unit is cut to fit the memory budget

    def set_weights(self, packed: PackedWeights) -> bool:
        """Apply `packed` if it is newer than what this worker holds; a stale version is ignored."""
        name, version = packed.model, packed.version
        if name not in self.versions:
            raise ValueError(f"unknown model {name!r}; expected one of {tuple(self.versions)}")
        if version <= self.versions[name]:
            return False
        if name == REFERENCES:
            references = ReferenceTokens.unpack(packed)
            self.bleu_table = references.table(self.config.train.pg_bleu_order, self.config.model.end_token)
        else:
            load_into(self.models[name], packed)
        self.versions[name] = version
        return True

    def _require_weights(self, names: tuple[str, ...]) -> None:
        missing = [n for n in names if self.versions[n] < 0]
        if missing:
            raise RuntimeError(f"worker has no weights for {missing} yet; publish them first")

    def run(self, unit: RewardUnit | SampleUnit, samples: torch.Tensor | None = None) -> UnitResult:
        used = models_used(unit, self.method)
        self._require_weights(used)
        if isinstance(unit, RewardUnit):
            if samples is None:
                raise ValueError("a reward unit needs the batch of samples it completes")
            value = unit_reward_sums(self.models["rollout"], self.reward_scorer(),
                                     samples.to(self.device), unit, self.sizes)
        else:
            value = self.models["generator"].sample(unit.draws(self.config.model.seq_len, self.device))
        return UnitResult(unit.index, value.cpu(), {n: self.versions[n] for n in used})

    def reward_scorer(self):
        """What scores a completion: D, or for pg_bleu its BLEU against the references."""
        if self.method == "pg_bleu":
            return BleuRewardScorer(self.bleu_table, self.config.model.end_token)
        return DiscriminatorScorer(self.models["discriminator"])
