"""Reference rewards, shaped like the public SeqGAN implementations: for every rollout n and prefix
length t, re-run the policy over the prefix, sample the rest, and score that batch whole (D, or BLEU).

Kept for tests (same draws -> same rewards as the batched engine) and benchmarks.
"""
from __future__ import annotations

import torch

from rewards.scoring import as_scorer
from rewards.units import RewardUnit
from seqgan.endings import pad_after_end
from seqgan.models import Generator


@torch.no_grad()
def reference_unit_reward_sums(policy: Generator, scorer, samples: torch.Tensor,
                               unit: RewardUnit) -> torch.Tensor:
    rows = samples[unit.sample_start:unit.sample_stop]  # [b, T]
    scorer = as_scorer(scorer)
    b, seq_len = rows.shape
    start = torch.full((b,), policy.start_token, dtype=torch.long, device=rows.device)
    sums = torch.zeros(b, len(unit.prefixes), dtype=torch.float64, device=rows.device)
    for p, t in enumerate(unit.prefixes):
        draws = unit.draws(t, seq_len, rows.device)  # [b, n, T]
        for n in range(unit.num_rollouts):
            state, token = policy.initial_state(b), start
            completion = rows.clone()
            for j in range(seq_len):  # the prefix is re-run for every (n, t)
                state = policy.advance(token, state)
                token = rows[:, j] if j < t else policy.next_tokens(state[0], draws[:, n, j])
                completion[:, j] = token
            sums[:, p] += scorer.score_sequences(pad_after_end(completion, policy.end_token)).double()
    return sums
