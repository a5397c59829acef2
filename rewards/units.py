"""Work units: slices of samples x prefix positions x rollouts, fixed by config (never by the
number of workers), each with its own seed, and their assembly into rewards [batch, time]."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from seqgan.config import Config
from seqgan.seeding import derive_seed, uniforms
from seqgan.sizing import resolve_units


@dataclass(frozen=True)
class RewardUnit:
    """Monte Carlo completions of prefixes y_1..y_t, t in [prefix_start, prefix_stop), of batch rows
    [sample_start, sample_stop), rollouts [rollout_start, rollout_stop)."""
    index: int
    sample_start: int
    sample_stop: int
    prefix_start: int
    prefix_stop: int
    rollout_start: int
    rollout_stop: int
    run_seed: int
    iteration: int

    @property
    def prefixes(self) -> range:
        return range(self.prefix_start, self.prefix_stop)

    @property
    def num_samples(self) -> int:
        return self.sample_stop - self.sample_start

    @property
    def num_rollouts(self) -> int:
        return self.rollout_stop - self.rollout_start

    def draws(self, prefix: int, seq_len: int, device="cpu") -> torch.Tensor:
        """Uniforms [samples, rollouts, T] for completing prefix length `prefix`; position j of a
        completion uses draw [.., .., j]."""
        seed = derive_seed(self.run_seed, "rollout", self.iteration, self.index, prefix)
        return uniforms(seed, (self.num_samples, self.num_rollouts, seq_len), device)


@dataclass(frozen=True)
class SampleUnit:
    """`count` fresh sequences from the generator, drawn from their own seed."""
    index: int
    count: int
    seed: int

    def draws(self, seq_len: int, device="cpu") -> torch.Tensor:
        return uniforms(self.seed, (self.count, seq_len), device)


def _spans(total: int, size: int, first: int = 0) -> list[tuple[int, int]]:
    return [(start, min(start + size, total)) for start in range(first, total, size)]


def split_rewards(batch: int, seq_len: int, num_rollouts: int, unit_samples: int, unit_prefixes: int,
                  unit_rollouts: int, run_seed: int, iteration: int) -> list[RewardUnit]:
    """All units of one reward computation, in a fixed order (samples, then prefixes, then rollouts)."""
    units = []
    for s0, s1 in _spans(batch, unit_samples):
        for p0, p1 in _spans(seq_len, unit_prefixes, first=1):  # prefix lengths 1..T-1
            for r0, r1 in _spans(num_rollouts, unit_rollouts):
                units.append(RewardUnit(len(units), s0, s1, p0, p1, r0, r1, run_seed, iteration))
    return units


def batch_reward_units(config: Config, device_kind: str, batch: int, iteration: int) -> list[RewardUnit]:
    """The units of one reward computation, sized by the config for workers on `device_kind`."""
    u = resolve_units(config, device_kind)
    return split_rewards(batch, config.model.seq_len, config.rollout.num_rollouts, u.unit_samples,
                         u.unit_prefixes, u.unit_rollouts, config.train.seed, iteration)


def split_samples(count: int, unit_size: int, run_seed: int, phase: str, *keys: int) -> list[SampleUnit]:
    return [SampleUnit(i, stop - start, derive_seed(run_seed, phase, *keys, i))
            for i, (start, stop) in enumerate(_spans(count, unit_size))]


def assemble_rewards(units: list[RewardUnit], sums: list[torch.Tensor], final_real_prob: torch.Tensor,
                     seq_len: int, num_rollouts: int, ended: torch.Tensor | None = None) -> torch.Tensor:
    """Rewards [B, T]: Q[:, t-1] = mean over rollouts of D(completion of y_1..y_t) for t < T, and
    Q[:, T-1] = D(Y). `sums[i]` [samples, prefixes] belongs to `units[i]`; adding in unit order keeps
    the result bit-identical however units were spread over workers. `ended` [B, T] bool marks the
    positions after each sample's first end token (seqgan.endings.past_end): their rewards are 0, and
    at the end token itself every completion is the (padded) sample, so Q there is its own score
    `final_real_prob` (the engine completes no prefix that holds the end token)."""
    batch = final_real_prob.shape[0]
    total = torch.zeros(batch, seq_len, dtype=torch.float64)
    for unit, unit_sums in zip(units, sums):
        total[unit.sample_start:unit.sample_stop, unit.prefix_start - 1:unit.prefix_stop - 1] += unit_sums.cpu()
    rewards = total / num_rollouts
    rewards[:, -1] = final_real_prob.cpu().double()
    if ended is not None:
        ended = ended.cpu()
        at_end = (~ended).sum(dim=1) - 1  # [B] column of the first end token (T-1 without one)
        rewards[torch.arange(batch), at_end] = final_real_prob.cpu().double()
        rewards.masked_fill_(ended, 0.0)
    return rewards.float()
