"""The batched Monte Carlo rollout engine.

Cost of the public implementations: N*(T-1) re-runs of the prefix plus a D call per (n, t).
Here the prefix states are computed once, then every (sample, prefix, rollout) completion of a
work unit advances together, one batched step per position; completions are ordered by prefix
length so the finished ones drop off the end and no step is wasted. D scores all completions in
large batches and convolves only the windows that reach past each prefix (rewards/scoring.py).

On text most of that work is not needed (docs/benchmarks.md, "Text runs"): a (sample, prefix) pair
whose prefix already holds the end token has a fixed reward (rewards/units.py fills it in), so only
live pairs are completed, and a completion leaves the stepping batch once it has drawn its end token.
Every token is still drawn from its own uniform: skipping work changes no reward.

Memory stays within `rollout.memory_budget` at any T and N (seqgan/sizing.py sizes the pieces): a
unit's samples are taken `piece_samples` at a time, `chunk_tokens` completion tokens are alive at
once, D sees `score_rows` completions per call and G's logits are made `sample_rows` rows at a time.
How a unit is cut changes no completion's draws or arithmetic, only how many run side by side.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

import torch

from rewards.scoring import as_scorer
from rewards.units import RewardUnit
from seqgan.endings import drop_ended, first_end, pad_after_end, pad_after_end_
from seqgan.models import Generator
from seqgan.sizing import ResolvedUnits


@torch.no_grad()
def complete_prefixes(policy: Generator, samples: torch.Tensor, states, pair_sample: torch.Tensor,
                      pair_prefix: list[int], draws: torch.Tensor, sample_rows: int,
                      stop_at_end: bool = True) -> torch.Tensor:
    """Complete (sample, prefix) pairs of `samples` [b, T] with the policy, all at once.

    states: (h, c) [b, >= max prefix, H] from `policy.prefix_states`; pair_sample [G] rows of
    `samples`; pair_prefix: the pairs' prefix lengths (G), ascending; draws [G, n, T]. Returns
    completions [G*n, T] ordered (pair, rollout), padded after their first end token when the
    policy has one. With `stop_at_end` a completion stops stepping once it has drawn that token.
    """
    pairs, n, seq_len = draws.shape
    unit_prefix = torch.tensor(pair_prefix, device=samples.device).repeat_interleave(n)  # [U]
    # [U, T]: each row starts as its sample; positions past the prefix get overwritten.
    completions = samples[pair_sample.repeat_interleave(n)]
    u = draws.reshape(-1, seq_len)  # [U, T]
    h, c = (s[pair_sample, unit_prefix[::n] - 1].repeat_interleave(n, dim=0) for s in states)  # [U, H]
    going = torch.arange(len(completions), device=samples.device)  # [A] rows still stepping, by prefix
    inputs = completions[going, unit_prefix - 1]  # y_t, the last prefix token
    starts = [t for t in pair_prefix for _ in range(n)]  # prefix of each row going (a list: no device sync)
    end_token = policy.end_token if stop_at_end else None
    for k in range(seq_len - pair_prefix[0]):
        dropped = len(going)
        inputs, h, c, going = drop_ended(k, inputs, end_token, h, c, going)
        if len(going) < dropped:
            starts = unit_prefix[going].tolist()
        # Rows with prefix t still need position t + k while t + k <= T - 1: a leading slice.
        active = bisect_right(starts, seq_len - 1 - k)
        if not active:
            break
        h, c, inputs, going, starts = h[:active], c[:active], inputs[:active], going[:active], starts[:active]
        h, c = policy.advance(inputs, (h, c))
        position = unit_prefix[going] + k  # [active], 0-based column of y_{t+k+1}
        inputs = policy.next_tokens(h, u[going, position], sample_rows)
        completions[going, position] = inputs
    return pad_after_end_(completions, policy.end_token)


def live_prefixes(rows: torch.Tensor, end_token: int | None) -> torch.Tensor:
    """The longest prefix of each row [b, T] that holds no end token: prefixes 1..that are live,
    longer ones have a fixed reward. [b] long; T-1 (every prefix) without an end token."""
    seq_len = rows.shape[1]
    if end_token is None:
        return torch.full((len(rows),), seq_len - 1, dtype=torch.long, device=rows.device)
    return first_end(rows, end_token).clamp(max=seq_len - 1)


@torch.no_grad()
def unit_reward_sums(policy: Generator, scorer, samples: torch.Tensor, unit: RewardUnit,
                     sizes: ResolvedUnits, dense: bool = False) -> torch.Tensor:
    """Sum over the unit's rollouts of the scorer's reward of each completion (D's P(real), or its
    BLEU), [unit samples, unit prefixes] float64; 0 for pairs whose prefix holds the end token (not
    completed). A Discriminator is scored as DiscriminatorScorer.

    samples: the whole batch [B, T]; the unit picks its rows and prefixes, and takes its samples
    `sizes.piece_samples` at a time so their prefix states and D window maxima stay in the budget.
    Samples are padded after their end token first (G's samples already are), so D's shared prefix
    windows see what the padded completions hold. `dense` completes every pair to T, ended or not:
    the work of an engine that skips nothing (benchmarks and tests compare against it).
    """
    rows = pad_after_end(samples[unit.sample_start:unit.sample_stop], policy.end_token)  # [b, T]
    live_to = live_prefixes(rows, None if dense else policy.end_token)  # [b]
    sums = torch.zeros(len(rows), len(unit.prefixes), dtype=torch.float64, device=rows.device)
    if dense or live_to.max().item() >= unit.prefix_start:  # a unit with no live pair costs nothing
        scorer = as_scorer(scorer)
        for s0 in range(0, len(rows), sizes.piece_samples):
            part = slice(s0, min(len(rows), s0 + sizes.piece_samples))
            sums[part] = sample_piece_sums(policy, scorer, rows[part], unit, part, sizes, live_to[part], not dense)
    return sums


def live_pairs(unit: RewardUnit, live_to: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """The unit's (prefix, sample) pairs with a live prefix, ordered by prefix then sample:
    (prefix lengths [G] as a list, sample rows [G])."""
    prefixes = torch.tensor(list(unit.prefixes), device=live_to.device)
    prefix_index, sample = (prefixes[:, None] <= live_to[None, :]).nonzero(as_tuple=True)  # [G] each
    return prefixes[prefix_index].tolist(), sample


def sample_piece_sums(policy: Generator, scorer, rows: torch.Tensor, unit: RewardUnit, part: slice,
                      sizes: ResolvedUnits, live_to: torch.Tensor, stop_at_end: bool) -> torch.Tensor:
    """Reward sums [s, P] of the unit's samples `part` (rows [s, T], live prefixes up to live_to
    [s]). At most `chunk_tokens` completion tokens are alive at once: the live pairs are taken in
    order, as many as fit (at least one: one sample's rollouts of one prefix)."""
    s, seq_len = rows.shape
    n = unit.num_rollouts
    sums = torch.zeros(s, len(unit.prefixes), dtype=torch.float64, device=rows.device)
    pair_prefix, pair_sample = live_pairs(unit, live_to)
    if not pair_prefix:
        return sums
    states = policy.prefix_states(rows[:, :pair_prefix[-1] + 1])  # (h, c) [s, longest live prefix, H]
    window_max = scorer.prefix_context(rows)  # per sample: D's windows inside prefixes, once for all rollouts
    per_chunk = max(1, sizes.chunk_tokens // (n * seq_len))  # pairs per chunk
    made = (None, None)  # (prefix, its draws [s, n, T]): a prefix's draws are made once per piece
    for first in range(0, len(pair_prefix), per_chunk):
        prefixes, samples = pair_prefix[first:first + per_chunk], pair_sample[first:first + per_chunk]
        draws = torch.empty(len(prefixes), n, seq_len, dtype=torch.float64, device=rows.device)  # [G, n, T]
        for t in sorted(set(prefixes)):
            if made[0] != t:  # a unit draws per prefix for all its samples; keep this piece's
                made = (t, unit.draws(t, seq_len, rows.device)[part])
            group = slice(bisect_left(prefixes, t), bisect_right(prefixes, t))
            draws[group] = made[1][samples[group]]
        chunk_sums = pair_reward_sums(policy, scorer, rows, states, window_max, prefixes, samples, draws,
                                      sizes, stop_at_end)  # [G]
        sums[samples, torch.tensor(prefixes, device=rows.device) - unit.prefix_start] = chunk_sums
    return sums


def pair_reward_sums(policy: Generator, scorer, rows: torch.Tensor, states, window_max: list,
                     prefixes: list[int], samples: torch.Tensor, draws: torch.Tensor, sizes: ResolvedUnits,
                     stop_at_end: bool) -> torch.Tensor:
    """Reward sums [G] of (sample, prefix) pairs (rows `samples` [G] of rows [s, T], prefix lengths
    `prefixes` ascending), draws [G, n, T]; D scores the completions of one prefix together."""
    pairs, n, seq_len = draws.shape
    completions = complete_prefixes(policy, rows, states, samples, prefixes, draws, sizes.sample_rows,
                                    stop_at_end)  # [G*n, T]
    sample_rows = samples.repeat_interleave(n)  # [G*n] which sample each completion extends
    step, scores = sizes.score_rows, []
    for t in sorted(set(prefixes)):
        lo, hi = bisect_left(prefixes, t) * n, bisect_right(prefixes, t) * n
        scores += [scorer.score(completions[i:min(hi, i + step)], t, sample_rows[i:min(hi, i + step)], window_max)
                   for i in range(lo, hi, step)]
    return torch.cat(scores).double().view(pairs, n).sum(-1)
