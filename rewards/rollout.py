"""The batched Monte Carlo rollout engine.

Cost of the public implementations: N*(T-1) re-runs of the prefix plus a D call per (n, t).
Here the prefix states are computed once, then every (sample, prefix, rollout) completion of a
work unit advances together, one batched step per position; completions are ordered by prefix
length so the finished ones drop off the end and no step is wasted. D scores all completions in
large batches and convolves only the windows that reach past each prefix (rewards/scoring.py).
`chunk_tokens` bounds how many completion tokens are alive at once, so long sequences run in a
fixed memory budget.
"""
from __future__ import annotations

import torch

from rewards.scoring import prefix_window_max, score_prefix_group
from rewards.units import RewardUnit
from seqgan.models import Discriminator, Generator


@torch.no_grad()
def complete_prefixes(policy: Generator, samples: torch.Tensor, states, prefixes: list[int],
                      draws: torch.Tensor) -> torch.Tensor:
    """Complete prefixes of `samples` [b, T] with the policy, all at once.

    states: (h, c) [b, T-1, H] from `policy.prefix_states`; prefixes: ascending prefix lengths (P);
    draws: [P, b, n, T]. Returns completions [P*b*n, T] ordered (prefix, sample, rollout).
    """
    num_prefix, b, n, seq_len = draws.shape
    ts = torch.tensor(prefixes, device=samples.device)  # [P]
    # [P*b*n, T]: each row starts as its sample; positions past the prefix get overwritten.
    completions = samples[None, :, None].expand(num_prefix, b, n, seq_len).reshape(-1, seq_len).clone()
    unit_prefix = ts.repeat_interleave(b * n)  # [U]
    u = draws.reshape(-1, seq_len)  # [U, T]
    h, c = (s[:, ts - 1].transpose(0, 1).unsqueeze(2).expand(-1, -1, n, -1).reshape(-1, s.shape[-1])
            for s in states)  # [U, H]: the state at each unit's prefix
    rows = torch.arange(len(completions), device=samples.device)
    inputs = completions[rows, unit_prefix - 1]  # y_t, the last prefix token
    for k in range(seq_len - prefixes[0]):
        # Units with prefix t still need position t + k while t + k <= T - 1: a leading slice.
        active = sum(t + k <= seq_len - 1 for t in prefixes) * b * n  # from the list: no device sync
        h, c, inputs = h[:active], c[:active], inputs[:active]
        h, c = policy.advance(inputs, (h, c))
        position = unit_prefix[:active] + k  # [active], 0-based column of y_{t+k+1}
        inputs = policy.next_tokens(h, u[rows[:active], position])
        completions[rows[:active], position] = inputs
    return completions


@torch.no_grad()
def unit_reward_sums(policy: Generator, disc: Discriminator, samples: torch.Tensor, unit: RewardUnit,
                     chunk_tokens: int) -> torch.Tensor:
    """Sum over the unit's rollouts of D(completion), [unit samples, unit prefixes] float64.

    samples: the whole batch [B, T]; the unit picks its rows and prefixes. At most `chunk_tokens`
    completion tokens are alive at once (at least one sample's rollouts of one prefix): whole prefix
    groups when they fit, else one prefix for a slice of the samples.
    """
    rows = samples[unit.sample_start:unit.sample_stop]  # [b, T]
    b, seq_len = rows.shape
    n, prefixes = unit.num_rollouts, list(unit.prefixes)
    states = policy.prefix_states(rows)  # (h, c) [b, T-1, H], once for all rollouts
    window_max = prefix_window_max(disc, rows)  # D's windows inside prefixes, once for all rollouts
    per_chunk = chunk_tokens // (b * n * seq_len)  # whole prefix groups per chunk
    piece = b if per_chunk else max(1, chunk_tokens // (n * seq_len))  # samples per chunk
    per_chunk = max(1, per_chunk)
    sums = torch.empty(b, len(prefixes), dtype=torch.float64, device=rows.device)
    for first in range(0, len(prefixes), per_chunk):
        chunk = prefixes[first:first + per_chunk]
        draws = torch.stack([unit.draws(t, seq_len, rows.device) for t in chunk])  # [P, b, n, T]
        for s0 in range(0, b, piece):
            part = slice(s0, min(b, s0 + piece))
            sums[part, first:first + len(chunk)] = piece_reward_sums(
                policy, disc, rows[part], tuple(s[part] for s in states), [m[part] for m in window_max],
                chunk, draws[:, part], chunk_tokens)
    return sums


def piece_reward_sums(policy: Generator, disc: Discriminator, rows: torch.Tensor, states, window_max: list,
                      chunk: list[int], draws: torch.Tensor, chunk_tokens: int) -> torch.Tensor:
    """Reward sums [s, P] of samples rows [s, T] for prefix lengths `chunk` (P), draws [P, s, n, T]."""
    num_prefix, s, n, seq_len = draws.shape
    group = s * n  # completions of one prefix, ordered (sample, rollout)
    sample_rows = torch.arange(s, device=rows.device).repeat_interleave(n)  # [group]
    score_rows = max(1, chunk_tokens // seq_len)  # completions per D call
    completions = complete_prefixes(policy, rows, states, chunk, draws).view(num_prefix, group, seq_len)
    probs = torch.stack([
        torch.cat([score_prefix_group(disc, completions[p, i:i + score_rows], t, sample_rows[i:i + score_rows],
                                      window_max) for i in range(0, group, score_rows)])
        for p, t in enumerate(chunk)]).view(num_prefix, s, n)
    return probs.double().sum(-1).transpose(0, 1)  # [s, P]
