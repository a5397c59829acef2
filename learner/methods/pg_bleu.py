"""`pg_bleu`, the paper's PG-BLEU baseline: SeqGAN's policy gradient with a completion's BLEU-n
against the training data as its reward instead of D's score; no D. The training data reach the
workers once, as the pseudo-model `references` (actors/sync.py)."""
from __future__ import annotations

import torch

from actors.sync import REFERENCES, ROLLOUT, Held
from learner.methods.base import Method
from rewards.bleu.reward import BleuRewardScorer, reference_table


class PgBleu(Method):
    name = "pg_bleu"
    reward_models = (ROLLOUT, REFERENCES)

    def __init__(self, config):
        super().__init__(config)
        self.scorer, self.counted = None, None  # the reference table, counted once per references data

    def scorer_of(self, tokens: torch.Tensor) -> BleuRewardScorer:
        """The BLEU scorer of training sequences [N, T], counted again only when they change."""
        if self.counted is not tokens:
            end = self.config.model.end_token
            self.scorer = BleuRewardScorer(reference_table(tokens, self.config.train.pg_bleu_order, end), end)
            self.counted = tokens
        return self.scorer

    def reward_scorer(self, held: Held) -> BleuRewardScorer:
        return self.scorer_of(held.models[REFERENCES].tokens)

    def final_rewards(self, learner, samples: torch.Tensor) -> torch.Tensor:
        return self.scorer_of(learner.train_data).score_sequences(samples.cpu())  # BLEU(Y)

    def iteration(self, trainer, iteration: int) -> dict:
        return trainer.adversarial_iteration(iteration)
