"""`seqgan bench rollout|scaling`: speed as ratios measured in one run on one machine."""
from __future__ import annotations

import dataclasses


from learner.bench.common import machine, paper_config, paper_models, seconds
from learner.bench.floor import floor_parts
from learner.bench.memory import peak_bytes
from learner.learner import resolve_device
from rewards.reference import reference_unit_reward_sums
from rewards.rollout import unit_reward_sums
from rewards.scoring import conv_flops
from rewards.units import RewardUnit, batch_reward_units
from seqgan.config import Config
from seqgan.sizing import resolve_units

def rollout(args) -> list[dict]:
    """One record per T: seconds per reward computation (B x (T-1) x N completions scored by D), fast
    vs reference vs floor, the fast engine's peak memory against the budget, and D's conv FLOPs."""
    return [rollout_at(args, seq_len) for seq_len in args.seq_len]


def rollout_at(args, seq_len: int) -> dict:
    config_args = {"seq_len": seq_len, "rollouts": args.rollouts,
                   "overrides": [*args.set, f"data.batch_size={args.batch}"]}
    config = paper_config(**config_args)
    device = resolve_device(args.device, "--device")
    generator, disc, samples = paper_models(config, device)
    r, batch = config.rollout, len(samples)
    units, sizes = batch_reward_units(config, device.type, batch, 0), resolve_units(config, device.type)
    # The reference works like the public implementations: the whole batch per (n, t).
    whole = RewardUnit(0, 0, batch, 1, seq_len, 0, r.num_rollouts, 0, 0)
    fast_s = seconds(lambda: [unit_reward_sums(generator, disc, samples, u, sizes) for u in units], args.repeats)
    reference_s = None if args.no_reference else seconds(
        lambda: reference_unit_reward_sums(generator, disc, samples, whole), args.repeats)
    floor = floor_parts(generator, disc, batch, seq_len, r.num_rollouts, seconds, args.repeats)
    floor_s = sum(floor.values())
    peak = peak_bytes(config_args, device)
    return {"bench": "rollout", "batch": batch, "seq_len": seq_len, "rollouts": r.num_rollouts,
            "units": len(units), "sizes": dataclasses.asdict(sizes), "fast_s": round(fast_s, 3),
            "reference_s": reference_s and round(reference_s, 3),
            "speedup": reference_s and round(reference_s / fast_s, 2), "floor_s": round(floor_s, 3),
            "speedup_ceiling": reference_s and round(reference_s / floor_s, 2),
            "fast_over_floor": round(fast_s / floor_s, 2), "floor_parts": {k: round(v, 3) for k, v in floor.items()},
            "peak_bytes": peak, "memory_budget": r.memory_budget,
            "peak_over_budget": round(peak / r.memory_budget, 3), "peak_measure": PEAK_MEASURE[device.type],
            "d_conv": d_conv_flops(config, batch), "repeats": args.repeats, "device": str(device),
            "machine": machine(device)}


PEAK_MEASURE = {"cpu": "peak RSS growth of a fresh process", "cuda": "torch.cuda.max_memory_allocated growth"}


def d_conv_flops(config: Config, batch: int) -> dict:
    """D's convolution GFLOP of one reward computation, with and without prefix-window sharing."""
    d = config.discriminator
    shared, every = conv_flops(config.model.seq_len, config.rollout.num_rollouts, d.embed_dim, d.filter_sizes,
                               d.num_filters)
    return {"gflop_shared": round(batch * shared / 1e9, 1), "gflop_every_window": round(batch * every / 1e9, 1),
            "saved": round(1 - shared / every, 3)}


def flops(args) -> list[dict]:
    """`bench flops`: D's conv FLOPs saved by prefix-window sharing at each T (arithmetic, no timing)."""
    return [{"bench": "flops", "batch": args.batch, "seq_len": seq_len, "rollouts": args.rollouts,
             "d_conv": d_conv_flops(paper_config(seq_len, args.rollouts, args.set), args.batch)}
            for seq_len in args.seq_len]


def describe(result: dict) -> str:
    lines = [f"machine: {result['machine']}"] if "machine" in result else []
    for key, value in result.items():
        if key != "machine":
            lines.append(f"{key}: {value}")
    return "\n".join(lines)
