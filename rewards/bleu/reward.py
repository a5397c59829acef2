"""PG-BLEU (train.method pg_bleu, the paper's baseline): SeqGAN's policy gradient with a completion's
BLEU against the training data as its reward instead of D's score.

The training sequences reach the rollout workers as the pseudo-model `references` (actors/sync.py);
a worker counts them into a ReferenceTable once per version, and the rollout engine scores
completions with a BleuRewardScorer, as it does with D.
"""
from __future__ import annotations

import torch

from rewards.bleu.score import ReferenceTable


def reference_table(tokens: torch.Tensor, order: int, end_token: int | None = None) -> ReferenceTable:
    """The BLEU-`order` reference table of training sequences [N, T] (rows as tuples of ints, cut at
    their end token: the padding is no part of a sentence)."""
    return ReferenceTable([sentence_of(row, end_token) for row in tokens.tolist()], (order,))


def sentence_of(row: list[int], end_token: int | None) -> tuple[int, ...]:
    """The tokens of a sequence before its first end token (all of them when fixed-length)."""
    if end_token is not None and end_token in row:
        row = row[:row.index(end_token)]
    return tuple(row)


class BleuRewardScorer:
    """The rollout engine's scorer for PG-BLEU: a completion's reward is its BLEU-n against the
    training data (rewards.bleu.score, NLTK's sentence BLEU with method1 smoothing)."""

    def __init__(self, table: ReferenceTable, end_token: int | None = None):
        if len(table.orders) != 1:
            raise ValueError(f"a BLEU reward has one order, got {table.orders}")
        self.table, self.end_token = table, end_token

    def prefix_context(self, rows: torch.Tensor) -> list:
        """Nothing shared between the completions of a sample: no per-sample context."""
        return []

    def score(self, completions: torch.Tensor, prefix: int, sample_rows: torch.Tensor, context) -> torch.Tensor:
        """BLEU-n [R] float64 of completions [R, T], in order (prefix and sample do not matter)."""
        return self.score_sequences(completions)

    def score_sequences(self, tokens: torch.Tensor) -> torch.Tensor:
        """BLEU-n [R] float64 of whole sequences [R, T]."""
        scores = [self.table.score(sentence_of(row, self.end_token))[0] for row in tokens.tolist()]
        return torch.tensor(scores, dtype=torch.float64, device=tokens.device)
