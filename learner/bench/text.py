"""`seqgan bench rollout --config CONFIG [--run RUN_DIR]`: a reward computation on text, where most
positions lie past the end token: the engine that skips them (`fast_s`) against the same engine doing
every position (`dense_s`), the share of completions and LSTM steps skipped, rewards compared, and
the peak memory against the budget. Then a sampling round of SAMPLING_ROUND sequences: rows that
leave the stepping batch at their end token (`sample_fast_s`) against every row stepped to T and
padded afterwards (`sample_dense_s`), the same draws, the tokens compared.

Without --run: the config's untrained models (its seed) and B sequences of the corpus's training
split; an untrained G almost never draws the end token, so its completions run to T. With --run: the
run's newest checkpoint (rollout policy and D) and a PG batch of its generator's own samples.
"""
from __future__ import annotations

import copy
import dataclasses

import torch

from learner.bench.memory import peak_bytes
from learner.bench.text_work import skipped_shares, text_setup, work_counts
from learner.learner import resolve_device
from rewards.units import assemble_rewards, batch_reward_units
from seqgan.config import Config
from seqgan.endings import pad_after_end_, past_end
from seqgan.seeding import sample_draws
from seqgan.sizing import resolve_units

SAMPLING_ROUND = 10_000  # sequences: D's negatives of a COCO epoch, or a frontier's temperature


def timed_rewards(config: Config, policy, disc, samples: torch.Tensor, units, sizes, dense: bool, seconds,
                  repeats: int) -> tuple[float, torch.Tensor, dict[str, int]]:
    """(median seconds, rewards [B, T], work counts) of the engine, dense or skipping; the counting
    costs a Python call per LSTM step and D call, alike in both."""
    made = {}

    def compute():
        made["counts"], sums = work_counts(policy, disc, samples, units, sizes, dense)
        made["rewards"] = assemble_rewards(units, sums, disc.real_prob(samples), samples.shape[1],
                                           config.rollout.num_rollouts, past_end(samples, config.model.end_token))

    return seconds(compute, repeats), made["rewards"], made["counts"]


def timed_sampling(generator, count: int, dense: bool, seconds, repeats: int) -> tuple[float, torch.Tensor]:
    """(median seconds, tokens [count, T]) of `seqgan sample`'s draws (seed 0); `dense`: a copy of the
    generator without the end token steps every row to T, padded after its end token afterwards."""
    end_token = generator.end_token
    if dense:
        generator = copy.deepcopy(generator)
        generator.end_token = None
    made = {}

    def draw():
        tokens = torch.cat([generator.sample(u.to(next(generator.parameters()).device))
                            for u in sample_draws(0, count, generator.seq_len)])
        made["tokens"] = pad_after_end_(tokens, end_token) if dense else tokens

    return seconds(draw, repeats), made["tokens"]


def text_rollout(args, seconds, machine) -> dict:
    """One record: dense_s and fast_s of a reward computation, side by side; the rewards compared."""
    device = resolve_device(args.device, "--device")
    spec = {"config": args.config, "run": args.run, "overrides": list(args.set), "batch": args.batch}
    config, policy, disc, samples = text_setup(spec, device)
    if config.model.end_token is None:
        raise ValueError(f"{args.run or args.config} has no model.end_token: --config takes a text preset "
                         "(e.g. deploy/configs/coco.yaml); oracle configs are measured without --config")
    units, sizes = batch_reward_units(config, device.type, len(samples), 0), resolve_units(config, device.type)
    dense_s, dense, dense_work = timed_rewards(config, policy, disc, samples, units, sizes, True, seconds, args.repeats)
    fast_s, fast, fast_work = timed_rewards(config, policy, disc, samples, units, sizes, False, seconds, args.repeats)
    ended = past_end(samples, config.model.end_token)
    at_end = torch.zeros_like(dense, dtype=torch.bool)
    at_end[torch.arange(len(samples)), (~ended).sum(1).cpu() - 1] = True  # the sample's own score there
    peak = peak_bytes({"text": spec}, device)
    sample_dense_s, dense_tokens = timed_sampling(policy, SAMPLING_ROUND, True, seconds, args.repeats)
    sample_fast_s, fast_tokens = timed_sampling(policy, SAMPLING_ROUND, False, seconds, args.repeats)
    return {"bench": "rollout", "config": args.config, "run": args.run, "batch": len(samples),
            "seq_len": config.model.seq_len, "rollouts": config.rollout.num_rollouts, "units": len(units),
            "sizes": dataclasses.asdict(sizes), "kept_tokens": round((~ended).float().mean().item(), 4),
            "dense_s": round(dense_s, 3), "fast_s": round(fast_s, 3), "speedup": round(dense_s / fast_s, 2),
            **skipped_shares(fast_work, dense_work),
            "rewards_identical_before_end": torch.equal(dense[~at_end], fast[~at_end]),
            "rewards_max_abs_diff": (dense - fast).abs().max().item(),
            "sampled": SAMPLING_ROUND, "sample_dense_s": round(sample_dense_s, 3),
            "sample_fast_s": round(sample_fast_s, 3), "sampling_speedup": round(sample_dense_s / sample_fast_s, 2),
            "samples_identical": torch.equal(dense_tokens, fast_tokens),
            "sampled_kept_tokens": round((~past_end(fast_tokens, config.model.end_token)).float().mean().item(), 4),
            "peak_bytes": peak, "memory_budget": config.rollout.memory_budget,
            "peak_over_budget": round(peak / config.rollout.memory_budget, 3), "repeats": args.repeats,
            "device": str(device), "machine": machine(device)}
