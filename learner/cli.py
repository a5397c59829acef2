"""The `seqgan` command: train, sample, eval, oracle new|sample|import-seqgan, bench."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from seqgan.allocator import reuse_freed_memory
from seqgan.config import ConfigError, load_config


def keep_local_ray_on_loopback() -> None:
    """A Ray started here binds to 127.0.0.1 only. Ray reads this switch when it is first imported
    and otherwise rewrites 127.0.0.1 to the machine's routable address."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def int_at_least(lowest: int, what: str):
    """argparse type: an integer >= `lowest`, described as `what` in the error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


positive_int = int_at_least(1, "a positive integer")  # counts and sizes
seed_int = int_at_least(0, "a seed: an integer >= 0")
length_int = int_at_least(2, "a sequence length of at least 2")


def new_output(path: str) -> str:
    """Refuse to replace a file the user already has (samples, oracles): nothing written is lost."""
    if Path(path).exists():
        raise FileExistsError(f"{path!r} already exists: give another --out (nothing was overwritten)")
    return path


def cmd_train(args) -> None:
    from actors.inline_pool import InlinePool
    from learner.driver import Trainer
    from learner.learner import Learner

    config = load_config(args.config, args.set)
    torch.set_num_threads(os.cpu_count() or 1)  # as the learner actor, so both modes round alike
    if config.rollout.num_workers == 0:  # inline: one process, no Ray
        learner = Learner(config)  # the worker shares the learner's device: a GPU when there is one
        summary = Trainer(config, args.out, learner, InlinePool(config, str(learner.device))).train()
    else:
        if not (args.address or config.ray.address or os.environ.get("RAY_ADDRESS")):
            keep_local_ray_on_loopback()
        import ray

        from learner.remote import connect, ray_runtime
        started = connect(config, args.address)
        try:
            learner, pool = ray_runtime(config, local=started)
            summary = Trainer(config, args.out, learner, pool).train()
            pool.close()
        finally:
            if started:
                ray.shutdown()
    print(json.dumps(summary))


def cmd_sample(args) -> None:
    from learner.checkpoint import load_generator
    from seqgan.data import read_vocabulary, write_tokens
    from seqgan.seeding import derive_seed, uniforms

    new_output(args.out)
    generator = load_generator(args.run)
    vocabulary = read_vocabulary(args.vocab, generator.vocab_size) if args.vocab else None
    tokens = generator.sample(uniforms(derive_seed(args.seed, "sample_cli"), (args.n, generator.seq_len)))
    write_tokens(args.out, tokens, vocabulary)
    print(f"wrote {args.n} sequences to {args.out}")


def cmd_eval(args) -> None:
    from seqgan.data import read_tokens
    from seqgan.metrics import nll_per_token
    from seqgan.oracle import load_oracle

    oracle = load_oracle(args.oracle)
    tokens = read_tokens(args.samples, oracle.vocab_size, oracle.seq_len)
    print(f"{nll_per_token(oracle, tokens):.4f}")


def cmd_oracle(args) -> None:
    from seqgan.data import write_tokens
    from seqgan.oracle import import_seqgan_oracle, load_oracle, new_oracle, save_oracle
    from seqgan.seeding import derive_seed, uniforms

    new_output(args.out)
    if args.oracle_command == "new":
        c = load_config(args.config, args.set)
        oracle = new_oracle(c.model.vocab_size, c.generator.embed_dim, c.generator.hidden_dim,
                            c.model.seq_len, c.model.start_token, args.seed if args.seed is not None else c.data.oracle_seed)
        save_oracle(oracle, args.out)
    elif args.oracle_command == "sample":
        oracle = load_oracle(args.oracle)
        write_tokens(args.out, oracle.sample(uniforms(derive_seed(args.seed, "train_data"), (args.n, oracle.seq_len))))
    else:
        save_oracle(import_seqgan_oracle(args.pickle, args.seq_len, args.start_token), args.out)
    print(f"wrote {args.out}")


def cmd_bench(args) -> None:
    keep_local_ray_on_loopback()
    from learner import bench

    result = bench.rollout(args) if args.bench_command == "rollout" else bench.scaling(args)
    print(json.dumps(result) if args.json else bench.describe(result))


BENCH_OVERRIDES = ("overrides of paper.yaml, e.g. rollout.unit_samples=64 (work unit sizes); "
                   "the bench's own flags win")


def add_overrides(command: argparse.ArgumentParser, description: str | None = None) -> None:
    command.add_argument("--set", action="extend", nargs="+", default=[], metavar="SECTION.KEY=VALUE",
                         help=description)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqgan", description="Distributed SeqGAN trainer")
    sub = p.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="run Algorithm 1 (MLE, D pre-training, adversarial)")
    train.add_argument("--config", help="YAML preset (deploy/configs/*.yaml); defaults otherwise")
    add_overrides(train)
    train.add_argument("--out", default="runs/latest", help="run directory (default: runs/latest)")
    train.add_argument("--address", help="Ray cluster to join (else RAY_ADDRESS, else a local Ray)")
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="sample from a trained run's generator")
    sample.add_argument("--run", required=True, help="run directory")
    sample.add_argument("-n", type=positive_int, required=True, help="number of sequences")
    sample.add_argument("--out", required=True, help="output file (token ids, or words with --vocab)")
    sample.add_argument("--vocab", help="vocabulary file, one word a line (line i = token i)")
    sample.add_argument("--seed", type=seed_int, default=0)
    sample.set_defaults(func=cmd_sample)

    ev = sub.add_parser("eval", help="print the per-token NLL-oracle of a token-id file")
    ev.add_argument("--oracle", required=True)
    ev.add_argument("samples")
    ev.set_defaults(func=cmd_eval)

    oracle = sub.add_parser("oracle", help="create, sample or import the synthetic oracle")
    osub = oracle.add_subparsers(dest="oracle_command", required=True)
    new = osub.add_parser("new", help="a new oracle with N(0, 1) weights (sizes from the config)")
    new.add_argument("--out", required=True)
    new.add_argument("--config")
    add_overrides(new)
    new.add_argument("--seed", type=seed_int, help="default: data.oracle_seed")
    osample = osub.add_parser("sample", help="write a training set sampled from an oracle")
    osample.add_argument("--oracle", required=True)
    osample.add_argument("-n", type=positive_int, default=10_000)
    osample.add_argument("--out", required=True)
    osample.add_argument("--seed", type=seed_int, default=0)
    imp = osub.add_parser("import-seqgan", help="import the paper's released oracle pickle, safely")
    imp.add_argument("pickle")
    imp.add_argument("--out", required=True)
    imp.add_argument("--seq-len", type=length_int, default=20)
    imp.add_argument("--start-token", type=int, default=0)
    oracle.set_defaults(func=cmd_oracle)

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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reuse_freed_memory()  # inline rollouts and the local learner run in this process
    try:
        args.func(args)
    except (ConfigError, OSError, ValueError) as error:  # OSError: paths (missing, a folder, no permission)
        print(f"seqgan: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
