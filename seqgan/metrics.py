"""NLL metrics."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqgan.endings import past_end
from seqgan.models import Generator


@torch.no_grad()
def nll_per_token(model: Generator, tokens: torch.Tensor, batch_size: int = 1024,
                  end_token: int | None = None) -> float:
    """Mean negative log-likelihood in nats per token of `tokens` [N, T] under `model`; with
    `end_token`, over the tokens up to and including each sequence's first end token."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, tokens.numel()
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start:start + batch_size].to(device)  # [b, T]
        ended = past_end(batch, end_token)
        if ended is None:
            log_probs = model.log_probs(batch).double()  # [b, T]
        else:  # G's output layer only where it counts
            kept = ~ended
            logits = model.kept_logits(batch, kept)  # [K, V]
            log_probs = F.log_softmax(logits, dim=-1).gather(-1, batch[kept].unsqueeze(-1)).double()  # [K, 1]
            count -= ended.sum().item()
        total -= log_probs.sum().item()
    model.train(was_training)
    return total / count


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a metric never evaluated is null."""
    return value if math.isfinite(value) else None
