"""`seqgan bench scaling`: rollout-phase throughput with K Ray actors, for each T and N."""
from __future__ import annotations

import statistics
import time

import torch

from actors.sync import DISCRIMINATOR, ROLLOUT
from learner.bench.common import machine, paper_config, paper_models, seconds
from learner.learner import resolve_device
from learner.methods import method_for
from rewards.units import batch_reward_units
from seqgan.config import Config


def scaling_config(seq_len: int, rollouts: int, workers: int, device: torch.device,
                   overrides: list[str] = ()) -> Config:
    """CPU actors get one core and one torch thread each; GPU actors share one GPU (1/K each)."""
    per_actor = ([f"rollout.num_gpus={(10_000 // workers) / 10_000}"]  # Ray counts GPU shares in 1e-4 steps
                 if device.type == "cuda" and workers else ["rollout.torch_threads=1", "rollout.num_cpus=1"])
    return paper_config(seq_len, rollouts, [*overrides, f"rollout.num_workers={workers}", *per_actor])


def scaling(args) -> dict:
    """Rollout-phase throughput (completed rollouts/s) with K Ray actors, for each T and N; K=0 runs
    the same units with the same worker code in this process (the single-process baseline)."""
    import ray

    if any(k < 0 for k in args.workers):
        raise ValueError(f"--workers {args.workers}: worker counts must be >= 0")
    device = resolve_device(args.device, "--device")
    started = not ray.is_initialized() and max(args.workers) > 0
    if started:
        ray.init(address="local", num_cpus=max(args.workers), num_gpus=1 if device.type == "cuda" else 0,
                 include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    throughput, units, broadcast_s = {}, {}, []
    try:
        for seq_len in args.seq_lens:
            for rollouts in args.rollouts:
                for workers in args.workers:
                    key = f"T{seq_len}_N{rollouts}_K{workers}"
                    throughput[key], units[key] = one_setting(args, device, seq_len, rollouts, workers, broadcast_s)
    finally:
        if started:
            ray.shutdown()
    lo, hi = min(args.workers), max(args.workers)
    speedup = {f"T{t}_N{n}": round(throughput[f"T{t}_N{n}_K{hi}"] / throughput[f"T{t}_N{n}_K{lo}"], 2)
               for t in args.seq_lens for n in args.rollouts}
    return {"bench": "scaling", "throughput": throughput, f"speedup_{hi}v{lo}": speedup, "units": units,
            "broadcast_s_per_version": round(statistics.median(broadcast_s), 4) if broadcast_s else None,
            "batch": args.batch, "repeats": args.repeats, "device": str(device), "machine": machine(device)}


def one_setting(args, device: torch.device, seq_len: int, rollouts: int, workers: int,
                broadcast_s: list) -> tuple[float, int]:
    """(completed rollouts per second, work units) of one reward computation with `workers` actors."""
    import ray

    from actors.inline_pool import InlinePool
    from actors.ray_pool import RayPool
    from learner.learner import Learner

    config = scaling_config(seq_len, rollouts, workers, device, [*args.set, f"data.batch_size={args.batch}"])
    learner = Learner(config)
    method = method_for(config)
    pool = RayPool(config, method) if workers else InlinePool(config, method, str(device))
    try:
        if workers:
            ray.get([actor.pid.remote() for actor in pool.actors])  # started, before any timing
        _, _, samples = paper_models(config)
        for name in (ROLLOUT, DISCRIMINATOR):
            start = time.perf_counter()
            version, packed = learner.publish(name)
            pool.publish(name, version, packed)
            if workers:
                ray.get([a.set_weights.remote(pool.weights[name][1][0]) for a in pool.actors])
                broadcast_s.append(time.perf_counter() - start)
        units = batch_reward_units(config, pool.device_kind, len(samples), 0)
        pool.run(units[:max(workers, 1)], samples)  # warm-up: first calls pay for imports
        elapsed = seconds(lambda: pool.run(units, samples), args.repeats)
    finally:
        pool.close()
    return round(len(samples) * (seq_len - 1) * rollouts / elapsed, 1), len(units)
