"""The text metrics a text run logs at each evaluation: BLEU-2..5 of G's samples against the whole
test set, and their Self-BLEU-2..5 (rewards.bleu.score.SELF_BLEU_VARIANT), as the text-GAN tables report."""
from __future__ import annotations

import torch

from rewards.bleu.score import SELF_BLEU_VARIANT, BleuScorer, ReferenceTable, SelfBleuScorer
from rewards.bleu.corpus import DEFAULT_ORDERS, mean_scores
from rewards.bleu.reward import sentence_of


class TextMetrics:
    """The test set's reference table, counted once; scores token-id samples [S, T] cut at the end token."""

    variant = SELF_BLEU_VARIANT

    def __init__(self, references: torch.Tensor, end_token: int | None, orders=DEFAULT_ORDERS):
        self.end_token, self.orders = end_token, tuple(orders)
        self.table = ReferenceTable(self.sentences(references), self.orders)

    def sentences(self, tokens: torch.Tensor) -> list[tuple[int, ...]]:
        return [sentence_of(row, self.end_token) for row in tokens.tolist()]

    def __call__(self, samples: torch.Tensor) -> dict[str, float | int]:
        """bleu_n and self_bleu_n for n in the orders, and how many samples were scored."""
        sentences = self.sentences(samples)
        bleu = mean_scores(BleuScorer(self.table, sentences, self.orders))
        self_bleu = mean_scores(SelfBleuScorer(sentences, self.orders))
        return {**{f"bleu_{n}": bleu[n] for n in self.orders},
                **{f"self_bleu_{n}": self_bleu[n] for n in self.orders}, "bleu_hypotheses": len(sentences)}
