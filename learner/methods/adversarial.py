"""`seqgan`, the paper's method: the rewards of G's policy gradient are D's scores of Monte Carlo
completions, and D is retrained on fresh negatives every iteration."""
from __future__ import annotations

import torch

from actors.sync import DISCRIMINATOR, ROLLOUT, Held
from learner.methods.base import Method
from rewards.scoring import DiscriminatorScorer


class SeqGan(Method):
    name = "seqgan"
    uses_discriminator = True
    reward_models = (ROLLOUT, DISCRIMINATOR)

    def reward_scorer(self, held: Held) -> DiscriminatorScorer:
        return DiscriminatorScorer(held.models[DISCRIMINATOR])

    def final_rewards(self, learner, samples: torch.Tensor) -> torch.Tensor:
        return learner.real_prob(samples)  # D(Y)

    def iteration(self, trainer, iteration: int) -> dict:
        return trainer.adversarial_iteration(iteration)
