"""Scheduled sampling (Bengio et al., 2015), the paper's SS baseline: teacher forcing where each input
token is the real previous token with probability `keep`, else a token the model itself sampled at the
previous step. keep = 1 is plain MLE."""
from __future__ import annotations

import torch

from seqgan.models import Generator, sample_tokens


def keep_probability(iteration: int, iterations: int, final_keep: float) -> float:
    """Linear decay from 1 (teacher forcing) at the first iteration to `final_keep` at the last."""
    if iterations <= 1:
        return final_keep
    return 1.0 - (1.0 - final_keep) * iteration / (iterations - 1)


def scheduled_sampling_logits(generator: Generator, tokens: torch.Tensor, keep: torch.Tensor,
                              draws: torch.Tensor) -> torch.Tensor:
    """Logits [B, T, V] of y_t when the input at t is y_{t-1} where keep[:, t] is true, else the token
    sampled (with draws[:, t-1]) from the step before; tokens [B, T], keep [B, T] bool, draws [B, T].
    The sampled inputs carry no gradient, as in the original method."""
    count, length = tokens.shape
    inputs = tokens.new_full((count,), generator.start_token)  # [B]: the first input is always the start
    state = generator.initial_state(count)
    steps = []
    for t in range(length):  # each input depends on the previous step's sample: one LSTM step at a time
        state = generator.advance(inputs, state)
        logits = generator.out(state[0])  # [B, V]
        steps.append(logits)
        if t + 1 < length:
            sampled = sample_tokens(logits.detach(), draws[:, t])
            inputs = torch.where(keep[:, t + 1], tokens[:, t], sampled)
    return torch.stack(steps, dim=1)
