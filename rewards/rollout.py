"""The batched Monte Carlo rollout engine.

Cost of the public implementations: N*(T-1) re-runs of the prefix plus a D call per (n, t).
Here the prefix states are computed once, then every (sample, prefix, rollout) completion of a
work unit advances together, one batched step per position; completions are ordered by prefix
length so the finished ones drop off the end and no step is wasted. D scores all completions in
large batches and convolves only the windows that reach past each prefix (rewards/scoring.py).

Memory stays within `rollout.memory_budget` at any T and N (seqgan/sizing.py sizes the pieces): a
unit's samples are taken `piece_samples` at a time, `chunk_tokens` completion tokens are alive at
once, D sees `score_rows` completions per call and G's logits are made `sample_rows` rows at a time.
How a unit is cut changes no completion's draws or arithmetic, only how many run side by side.
"""
from __future__ import annotations

import torch

from rewards.scoring import as_scorer
from rewards.units import RewardUnit
from seqgan.endings import pad_after_end, pad_after_end_
from seqgan.models import Generator
from seqgan.sizing import ResolvedUnits


@torch.no_grad()
def complete_prefixes(policy: Generator, samples: torch.Tensor, states, prefixes: list[int],
                      draws: torch.Tensor, sample_rows: int) -> torch.Tensor:
    """Complete prefixes of `samples` [b, T] with the policy, all at once.

    states: (h, c) [b, T-1, H] from `policy.prefix_states`; prefixes: ascending prefix lengths (P);
    draws: [P, b, n, T]. Returns completions [P*b*n, T] ordered (prefix, sample, rollout), padded
    after their first end token when the policy has one (the draws are consumed all the same).
    """
    num_prefix, b, n, seq_len = draws.shape
    ts = torch.tensor(prefixes, device=samples.device)  # [P]
    # [P*b*n, T]: each row starts as its sample; positions past the prefix get overwritten.
    completions = samples[None, :, None].expand(num_prefix, b, n, seq_len).clone(
        memory_format=torch.contiguous_format).view(-1, seq_len)
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
        inputs = policy.next_tokens(h, u[rows[:active], position], sample_rows)
        completions[rows[:active], position] = inputs
    return pad_after_end_(completions, policy.end_token)


@torch.no_grad()
def unit_reward_sums(policy: Generator, scorer, samples: torch.Tensor, unit: RewardUnit,
                     sizes: ResolvedUnits) -> torch.Tensor:
    """Sum over the unit's rollouts of the scorer's reward of each completion (D's P(real), or its
    BLEU), [unit samples, unit prefixes] float64. A Discriminator is scored as DiscriminatorScorer.

    samples: the whole batch [B, T]; the unit picks its rows and prefixes, and takes its samples
    `sizes.piece_samples` at a time so their prefix states and D window maxima stay in the budget.
    Samples are padded after their end token first (G's samples already are), so D's shared prefix
    windows see what the padded completions hold.
    """
    rows = pad_after_end(samples[unit.sample_start:unit.sample_stop], policy.end_token)  # [b, T]
    scorer = as_scorer(scorer)
    sums = torch.empty(len(rows), len(unit.prefixes), dtype=torch.float64, device=rows.device)
    for s0 in range(0, len(rows), sizes.piece_samples):
        part = slice(s0, min(len(rows), s0 + sizes.piece_samples))
        sums[part] = sample_piece_sums(policy, scorer, rows[part], unit, part, sizes)
    return sums


def sample_piece_sums(policy: Generator, scorer, rows: torch.Tensor, unit: RewardUnit,
                      part: slice, sizes: ResolvedUnits) -> torch.Tensor:
    """Reward sums [s, P] of the unit's samples `part` (rows [s, T]). At most `chunk_tokens`
    completion tokens are alive at once: whole prefix groups when they fit, else one prefix for a
    slice of the samples (at least one sample's rollouts of one prefix)."""
    s, seq_len = rows.shape
    n, prefixes = unit.num_rollouts, list(unit.prefixes)
    states = policy.prefix_states(rows)  # (h, c) [s, T-1, H], once for all rollouts
    window_max = scorer.prefix_context(rows)  # per sample: D's windows inside prefixes, once for all rollouts
    per_chunk = sizes.chunk_tokens // (s * n * seq_len)  # whole prefix groups per chunk
    group = s if per_chunk else max(1, sizes.chunk_tokens // (n * seq_len))  # samples per chunk
    per_chunk = max(1, per_chunk)
    sums = torch.empty(s, len(prefixes), dtype=torch.float64, device=rows.device)
    for first in range(0, len(prefixes), per_chunk):
        chunk = prefixes[first:first + per_chunk]
        draws = torch.empty(len(chunk), s, n, seq_len, dtype=torch.float64, device=rows.device)  # [P, s, n, T]
        for p, t in enumerate(chunk):  # a unit draws per prefix for all its samples; keep this piece's
            draws[p] = unit.draws(t, seq_len, rows.device)[part]
        for g0 in range(0, s, group):
            g = slice(g0, min(s, g0 + group))
            sums[g, first:first + len(chunk)] = piece_reward_sums(
                policy, scorer, rows[g], tuple(x[g] for x in states), [m[g] for m in window_max],
                chunk, draws[:, g], sizes)
    return sums


def piece_reward_sums(policy: Generator, scorer, rows: torch.Tensor, states, window_max: list,
                      chunk: list[int], draws: torch.Tensor, sizes: ResolvedUnits) -> torch.Tensor:
    """Reward sums [s, P] of samples rows [s, T] for prefix lengths `chunk` (P), draws [P, s, n, T]."""
    num_prefix, s, n, seq_len = draws.shape
    group = s * n  # completions of one prefix, ordered (sample, rollout)
    sample_rows = torch.arange(s, device=rows.device).repeat_interleave(n)  # [group]
    completions = complete_prefixes(policy, rows, states, chunk, draws, sizes.sample_rows)
    completions = completions.view(num_prefix, group, seq_len)
    step = sizes.score_rows
    probs = torch.stack([
        torch.cat([scorer.score(completions[p, i:i + step], t, sample_rows[i:i + step], window_max)
                   for i in range(0, group, step)])
        for p, t in enumerate(chunk)]).view(num_prefix, s, n)
    return probs.double().sum(-1).transpose(0, 1)  # [s, P]
