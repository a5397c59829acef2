"""NLL metrics."""
from __future__ import annotations

import math

import torch

from seqgan.models import Generator


@torch.no_grad()
def nll_per_token(model: Generator, tokens: torch.Tensor, batch_size: int = 1024) -> float:
    """Mean negative log-likelihood in nats per token of `tokens` [N, T] under `model`."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(tokens), batch_size):
        total -= model.log_probs(tokens[start:start + batch_size].to(device)).double().sum().item()
    model.train(was_training)
    return total / tokens.numel()


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a metric never evaluated is null."""
    return value if math.isfinite(value) else None
