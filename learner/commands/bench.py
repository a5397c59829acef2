"""`seqgan bench rollout|scaling|flops|train`: the command line of learner/bench/."""
from __future__ import annotations

import json

from learner.commands.common import add_overrides, keep_local_ray_on_loopback, length_int, positive_int

BENCH_OVERRIDES = ("overrides of paper.yaml, e.g. rollout.unit_samples=64 (work unit sizes); "
                   "the bench's own flags win")


def cmd_bench(args) -> None:
    keep_local_ray_on_loopback()
    from learner.bench import plot as bench_plot, rollout as bench, scaling as bench_scaling

    if args.bench_command == "train":
        from learner.bench import train as bench_train
        result = bench_train.train_bench(args)
        print(json.dumps(result) if args.json else bench_train.describe(result))
        return
    if args.bench_command == "scaling":
        results = [bench_scaling.scaling(args)]
    elif args.bench_command == "rollout" and args.config:
        from learner.bench.text import text_rollout
        results = [text_rollout(args, bench.seconds, bench.machine)]
    else:
        results = bench.rollout(args) if args.bench_command == "rollout" else bench.flops(args)
    for result in results:
        print(json.dumps(result) if args.json else bench.describe(result))
    if getattr(args, "plot", None):
        if args.bench_command == "scaling":
            bench_plot.plot_scaling(results[0], args.plot)
        else:
            bench_plot.plot_rollout(results, args.plot)


def register(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks (ratios measured in one run)")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    roll = bsub.add_parser("rollout", help="fast vs reference reward computation, and its peak memory")
    roll.add_argument("--batch", type=positive_int, default=64)
    roll.add_argument("--seq-len", type=length_int, nargs="+", default=[20], help="one record per T")
    roll.add_argument("--rollouts", type=positive_int, default=16)
    roll.add_argument("--repeats", type=positive_int, default=3)
    roll.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    roll.add_argument("--no-reference", action="store_true",
                      help="skip the reference engine (it takes minutes at long T)")
    roll.add_argument("--plot", metavar="FILE.png", help="draw time and peak memory against T")
    roll.add_argument("--config", help="a text preset (e.g. deploy/configs/coco.yaml): its sizes and B sequences "
                                       "of its corpus's training split, the engine skipping the work past each "
                                       "end token (fast_s) against doing it (dense_s); --seq-len, --rollouts and "
                                       "--no-reference do not apply")
    roll.add_argument("--run", metavar="RUN_DIR", help="with --config: a trained run's rollout policy, D and "
                                                       "its generator's own samples instead (its config snapshot)")
    add_overrides(roll, BENCH_OVERRIDES)
    roll.add_argument("--json", action="store_true")
    scal = bsub.add_parser("scaling", help="rollout throughput with K Ray actors (0: in this process)")
    scal.add_argument("--seq-lens", type=length_int, nargs="+", default=[20, 40])
    scal.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                      help="worker counts K to compare; 0 runs the same units in this process")
    scal.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                      help="cuda: K actors share one GPU (num_gpus 1/K each)")
    scal.add_argument("--rollouts", type=positive_int, nargs="+", default=[16], help="rollout counts N to compare")
    scal.add_argument("--batch", type=positive_int, default=64)
    scal.add_argument("--repeats", type=positive_int, default=2)
    scal.add_argument("--plot", metavar="FILE.png", help="draw throughput against K and against N")
    add_overrides(scal, BENCH_OVERRIDES)
    scal.add_argument("--json", action="store_true")
    flop = bsub.add_parser("flops", help="D's conv FLOPs saved by prefix-window sharing (arithmetic)")
    flop.add_argument("--batch", type=positive_int, default=64)
    flop.add_argument("--seq-len", type=length_int, nargs="+", default=[20, 200, 1000])
    flop.add_argument("--rollouts", type=positive_int, default=16)
    add_overrides(flop, BENCH_OVERRIDES)
    flop.add_argument("--json", action="store_true")
    train = bsub.add_parser("train", help="each phase of a training run timed once, and the whole run projected")
    train.add_argument("--config", help="preset to time (default: the paper's, deploy/configs/paper.yaml)")
    train.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                       help="the learner's and the inline rollout worker's device; on cuda, "
                            "--set learner.cuda_graphs=true trains D as CUDA graphs")
    train.add_argument("--repeats", type=positive_int, default=3, help="timed calls per phase (the median)")
    train.add_argument("--batches", type=positive_int, default=16,
                       help="batches timed of an MLE epoch and of each D epoch (then scaled)")
    train.add_argument("--threads", type=positive_int,
                       help="the learner's torch threads (default: one per core this process may use, as `seqgan train`)")
    add_overrides(train, "overrides of the preset, e.g. model.vocab_size=100")
    train.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)
