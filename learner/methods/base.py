"""What a training method decides, behind one interface: the learner, the rollout workers and the
driver ask the run's method instead of comparing `train.method` strings.

A method says which models the workers hold and publish (`worker_models`), what a reward unit is
computed with and how a completion is scored (`reward_models`, `reward_scorer`: worker side), the
reward of a complete sequence (`final_rewards`: learner side), whether D is trained and evaluated
(`uses_discriminator`), and how one adversarial iteration runs and what it logs (`iteration`:
driver side). A method object is plain data plus code: it is pickled to Ray rollout actors.
"""
from __future__ import annotations

import torch

from actors.sync import GENERATOR, Held
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import Config


class Method:
    name: str = ""
    uses_discriminator = False  # D pre-training, D rounds in each iteration, D's held-out metrics
    reward_models: tuple[str, ...] = ()  # what reward units are computed with; () without policy gradient

    def __init__(self, config: Config):
        self.config = config

    @property
    def worker_models(self) -> tuple[str, ...]:
        """Everything a rollout worker holds, each with its version: G for fresh samples, then what
        rewards are computed with."""
        return (GENERATOR, *self.reward_models)

    def models_used(self, unit: RewardUnit | SampleUnit) -> tuple[str, ...]:
        return self.reward_models if isinstance(unit, RewardUnit) else (GENERATOR,)

    def pretrain_rounds(self) -> int:
        """D pre-training rounds a run makes: none for methods that never use D."""
        return self.config.train.disc_pretrain_rounds if self.uses_discriminator else 0

    def reward_scorer(self, held: Held):
        """Worker side: what scores a completion (rewards.scoring's scorer interface)."""
        raise TypeError(f"train.method {self.name!r} computes no Monte Carlo rewards")

    def final_rewards(self, learner, samples: torch.Tensor) -> torch.Tensor:
        """Learner side: the reward [B] of the last token of samples [B, T]."""
        raise TypeError(f"train.method {self.name!r} computes no Monte Carlo rewards")

    def iteration(self, trainer, iteration: int) -> dict:
        """Driver side: one adversarial iteration on `trainer` (learner/driver.py); its logged values."""
        raise NotImplementedError
