"""NLL metrics."""
from __future__ import annotations

import math

import torch

from seqgan.endings import past_end
from seqgan.models import Generator, token_log_probs


NLL_BATCH = 1024  # sequences scored at once: their logits [NLL_BATCH, T, V] are alive together


def nll_per_token(model: Generator, tokens: torch.Tensor, batch_size: int = NLL_BATCH,
                  end_token: int | None = None, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood in nats per token of `tokens` [N, T] under `model` at
    `temperature`; with `end_token`, over the tokens up to and including each sequence's first end token."""
    return nll_at_temperatures(model, tokens, [temperature], batch_size, end_token)[0]


@torch.no_grad()
def nll_at_temperatures(model: Generator, tokens: torch.Tensor, temperatures, batch_size: int = NLL_BATCH,
                        end_token: int | None = None) -> list[float]:
    """nll_per_token at each temperature, the logits of each batch made once for all of them."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals, count = [0.0] * len(temperatures), tokens.numel()
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start:start + batch_size].to(device)  # [b, T]
        ended = past_end(batch, end_token)
        if ended is None:
            logits, targets = model(batch), batch  # [b, T, V], [b, T]
        else:  # G's output layer only where it counts
            kept = ~ended
            logits, targets = model.kept_logits(batch, kept), batch[kept]  # [K, V], [K]
            count -= ended.sum().item()
        for index, temperature in enumerate(temperatures):
            totals[index] -= token_log_probs(logits, targets, temperature).double().sum().item()
    model.train(was_training)
    return [total / count for total in totals]


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a metric never evaluated is null."""
    return value if math.isfinite(value) else None
