"""NLL metrics."""
from __future__ import annotations

import math

import torch

from seqgan.endings import past_end
from seqgan.models import Generator

NLL_BATCH = 1024  # sequences scored at once: their logits [NLL_BATCH, T, V] are alive together


@torch.no_grad()
def nll_per_token(model: Generator, tokens: torch.Tensor, batch_size: int = NLL_BATCH,
                  end_token: int | None = None) -> float:
    """Mean negative log-likelihood in nats per token of `tokens` [N, T] under `model`; with
    `end_token`, over the tokens up to and including each sequence's first end token."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, tokens.numel()
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start:start + batch_size].to(device)  # [b, T]
        log_probs = model.log_probs(batch).double()  # [b, T]
        ended = past_end(batch, end_token)
        if ended is not None:
            log_probs = log_probs.masked_fill(ended, 0.0)
            count -= ended.sum().item()
        total -= log_probs.sum().item()
    model.train(was_training)
    return total / count


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a metric never evaluated is null."""
    return value if math.isfinite(value) else None
