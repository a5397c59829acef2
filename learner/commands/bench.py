"""`seqgan bench rollout|scaling`: the command line of learner/bench.py."""
from __future__ import annotations

import json

from learner.commands.common import add_overrides, keep_local_ray_on_loopback, positive_int

BENCH_OVERRIDES = ("overrides of paper.yaml, e.g. rollout.unit_samples=64 (work unit sizes); "
                   "the bench's own flags win")


def cmd_bench(args) -> None:
    keep_local_ray_on_loopback()
    from learner import bench

    result = bench.rollout(args) if args.bench_command == "rollout" else bench.scaling(args)
    print(json.dumps(result) if args.json else bench.describe(result))


def register(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks (ratios measured in one run)")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    roll = bsub.add_parser("rollout", help="fast vs reference reward computation")
    roll.add_argument("--batch", type=positive_int, default=64)
    roll.add_argument("--seq-len", type=positive_int, default=20)
    roll.add_argument("--rollouts", type=positive_int, default=16)
    roll.add_argument("--repeats", type=positive_int, default=3)
    roll.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    add_overrides(roll, BENCH_OVERRIDES)
    roll.add_argument("--json", action="store_true")
    scal = bsub.add_parser("scaling", help="rollout throughput with K Ray actors (0: in this process)")
    scal.add_argument("--seq-lens", type=positive_int, nargs="+", default=[20, 40])
    scal.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                      help="worker counts K to compare; 0 runs the same units in this process")
    scal.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                      help="cuda: K actors share one GPU (num_gpus 1/K each)")
    scal.add_argument("--rollouts", type=positive_int, default=16)
    scal.add_argument("--repeats", type=positive_int, default=2)
    add_overrides(scal, BENCH_OVERRIDES)
    scal.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)
