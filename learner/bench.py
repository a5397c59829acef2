"""`seqgan bench rollout|scaling`: speed as ratios measured in one run on one machine."""
from __future__ import annotations

import os
import platform
import statistics
import time

import torch

from learner.learner import resolve_device
from rewards.reference import reference_unit_reward_sums
from rewards.rollout import unit_reward_sums
from rewards.units import RewardUnit, batch_reward_units
from seqgan.config import Config, load_config
from seqgan.models import build_discriminator, build_generator
from seqgan.seeding import uniforms
from seqgan.sizing import resolve_units

PAPER = "deploy/configs/paper.yaml"


def machine(device: torch.device = torch.device("cpu")) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    facts = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
             "torch": torch.__version__, "python": platform.python_version()}
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts


def paper_config(seq_len: int, rollouts: int, overrides: list[str] = ()) -> Config:
    """paper.yaml with `overrides` (the user's --set first, so the bench's own flags win)."""
    if not os.path.exists(PAPER):
        raise FileNotFoundError(f"{PAPER} not found: run the benchmark from the project root")
    return load_config(PAPER, [*overrides, f"model.seq_len={seq_len}", f"rollout.num_rollouts={rollouts}"])


def paper_models(config: Config, device: torch.device | str = "cpu"):
    torch.manual_seed(0)
    generator = build_generator(config.model, config.generator).init_normal_(config.generator.init_std).eval()
    disc = build_discriminator(config.model, config.discriminator).init_paper_().eval()
    generator, disc = generator.to(device), disc.to(device)
    samples = generator.sample(uniforms(0, (config.data.batch_size, config.model.seq_len), device))
    return generator, disc, samples


def seconds(fn, repeats: int) -> float:
    """Median wall seconds of `fn`; waits for queued GPU work, so GPU times are not launch times."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rollout(args) -> dict:
    """Seconds per reward computation (B x (T-1) x N completions scored by D), fast vs reference."""
    config = paper_config(args.seq_len, args.rollouts, [*args.set, f"data.batch_size={args.batch}"])
    device = resolve_device(args.device, "--device")
    generator, disc, samples = paper_models(config, device)
    r, (batch, seq_len) = config.rollout, samples.shape
    units, sizes = batch_reward_units(config, device.type, batch, 0), resolve_units(config, device.type)
    # The reference works like the public implementations: the whole batch per (n, t).
    whole = RewardUnit(0, 0, batch, 1, seq_len, 0, r.num_rollouts, 0, 0)
    fast_s = seconds(lambda: [unit_reward_sums(generator, disc, samples, u, sizes) for u in units], args.repeats)
    reference_s = seconds(lambda: reference_unit_reward_sums(generator, disc, samples, whole), args.repeats)
    floor_s = unavoidable_seconds(generator, disc, batch, seq_len, r.num_rollouts, args.repeats)
    return {"bench": "rollout", "batch": batch, "seq_len": seq_len, "rollouts": r.num_rollouts,
            "units": len(units), "fast_s": round(fast_s, 3), "reference_s": round(reference_s, 3),
            "speedup": round(reference_s / fast_s, 2), "floor_s": round(floor_s, 3),
            "speedup_ceiling": round(reference_s / floor_s, 2), "repeats": args.repeats,
            "device": str(device), "machine": machine(device)}


@torch.no_grad()
def unavoidable_seconds(generator, disc, batch: int, seq_len: int, rollouts: int, repeats: int) -> float:
    """Seconds of the work any engine that gives the same rewards must do: G's distribution and a
    draw for every completed token, and D's highway and output layers for every completion (their
    pooled features differ, so nothing is shared). `reference_s / floor_s` bounds the speedup."""
    tokens = batch * rollouts * sum(seq_len - t for t in range(1, seq_len))  # B*N*sum(T-t)
    completions = batch * rollouts * (seq_len - 1)
    device = next(generator.parameters()).device
    hidden = torch.rand(tokens, generator.lstm.hidden_size, device=device) * 2 - 1  # LSTM outputs: (-1, 1)
    draws = uniforms(1, (tokens,), device)
    pooled = disc.features(generator.sample(uniforms(2, (batch, seq_len), device)))  # values: cost-neutral
    features = pooled.repeat(-(-completions // batch), 1)[:completions]  # [completions, F]
    rows = 1024  # D batch of the fast engine's size
    return (seconds(lambda: generator.next_tokens(hidden, draws), repeats)
            + seconds(lambda: [disc.head(features[i:i + rows]) for i in range(0, completions, rows)], repeats))


def scaling_config(seq_len: int, rollouts: int, workers: int, device: torch.device,
                   overrides: list[str] = ()) -> Config:
    """CPU actors get one core and one torch thread each; GPU actors share one GPU (1/K each)."""
    per_actor = ([f"rollout.num_gpus={(10_000 // workers) / 10_000}"]  # Ray counts GPU shares in 1e-4 steps
                 if device.type == "cuda" and workers else ["rollout.torch_threads=1", "rollout.num_cpus=1"])
    return paper_config(seq_len, rollouts, [*overrides, f"rollout.num_workers={workers}", *per_actor])


def scaling(args) -> dict:
    """Rollout-phase throughput (completed rollouts/s) with K Ray actors; K=0 runs the same units
    with the same worker code in this process (the single-process baseline)."""
    import ray

    from actors.inline_pool import InlinePool
    from actors.ray_pool import RayPool
    from learner.learner import Learner

    if any(k < 0 for k in args.workers):
        raise ValueError(f"--workers {args.workers}: worker counts must be >= 0")
    device = resolve_device(args.device, "--device")
    started = not ray.is_initialized() and max(args.workers) > 0
    if started:
        ray.init(num_cpus=max(args.workers), num_gpus=1 if device.type == "cuda" else 0,
                 include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    throughput, broadcast_s = {}, []
    try:
        for seq_len in args.seq_lens:
            for workers in args.workers:
                config = scaling_config(seq_len, args.rollouts, workers, device, args.set)
                learner = Learner(config)
                pool = RayPool(config) if workers else InlinePool(config, str(device))
                if workers:
                    ray.get([actor.pid.remote() for actor in pool.actors])  # started, before any timing
                _, _, samples = paper_models(config)
                for name in ("rollout", "discriminator"):
                    start = time.perf_counter()
                    version, packed = learner.publish(name)
                    pool.publish(name, version, packed)
                    if workers:
                        ray.get([a.set_weights.remote(pool.weights[name][1][0]) for a in pool.actors])
                        broadcast_s.append(time.perf_counter() - start)
                r = config.rollout
                units = batch_reward_units(config, pool.device_kind, len(samples), 0)
                pool.run(units[:max(workers, 1)], samples)  # warm-up: first calls pay for imports
                elapsed = seconds(lambda: pool.run(units, samples), args.repeats)
                completed = len(samples) * (seq_len - 1) * r.num_rollouts
                throughput[f"T{seq_len}_K{workers}"] = round(completed / elapsed, 1)
                pool.close()
    finally:
        if started:
            ray.shutdown()
    lo, hi = min(args.workers), max(args.workers)
    speedup = {f"T{t}": round(throughput[f"T{t}_K{hi}"] / throughput[f"T{t}_K{lo}"], 2) for t in args.seq_lens}
    return {"bench": "scaling", "throughput": throughput, f"speedup_{hi}v{lo}": speedup,
            "broadcast_s_per_version": round(statistics.median(broadcast_s), 4) if broadcast_s else None,
            "rollouts": args.rollouts, "repeats": args.repeats, "device": str(device),
            "machine": machine(device)}


def describe(result: dict) -> str:
    lines = [f"machine: {result['machine']}"]
    for key, value in result.items():
        if key != "machine":
            lines.append(f"{key}: {value}")
    return "\n".join(lines)
