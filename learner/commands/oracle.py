"""`seqgan oracle new|sample|import-seqgan`: the synthetic oracle of the paper's experiment."""
from __future__ import annotations

from learner.commands.common import add_overrides, length_int, new_output, seed_int
from learner.commands.generate import sample_count
from seqgan.config_files import load_config


def cmd_oracle(args) -> None:
    from seqgan.data.tokens import write_tokens
    from seqgan.oracle import import_seqgan_oracle, load_oracle, new_oracle, save_oracle
    from seqgan.seeding import derive_seed, uniforms

    new_output(args.out)
    if args.oracle_command == "new":
        c = load_config(args.config, args.set)
        seed = args.seed if args.seed is not None else c.data.oracle_seed
        oracle = new_oracle(c.model.vocab_size, c.generator.embed_dim, c.generator.hidden_dim,
                            c.model.seq_len, c.model.start_token, seed)
        save_oracle(oracle, args.out)
    elif args.oracle_command == "sample":
        oracle = load_oracle(args.oracle)
        write_tokens(args.out, oracle.sample(uniforms(derive_seed(args.seed, "train_data"), (args.n, oracle.seq_len))))
    else:
        save_oracle(import_seqgan_oracle(args.pickle, args.seq_len, args.start_token), args.out)
    print(f"wrote {args.out}")


def register(sub) -> None:
    oracle = sub.add_parser("oracle", help="create, sample or import the synthetic oracle")
    osub = oracle.add_subparsers(dest="oracle_command", required=True)
    new = osub.add_parser("new", help="a new oracle with N(0, 1) weights (sizes from the config)")
    new.add_argument("--out", required=True)
    new.add_argument("--config")
    add_overrides(new)
    new.add_argument("--seed", type=seed_int, help="default: data.oracle_seed")
    osample = osub.add_parser("sample", help="write a training set sampled from an oracle")
    osample.add_argument("--oracle", required=True)
    osample.add_argument("-n", type=sample_count, default=10_000)
    osample.add_argument("--out", required=True)
    osample.add_argument("--seed", type=seed_int, default=0)
    imp = osub.add_parser("import-seqgan", help="import the paper's released oracle pickle, safely")
    imp.add_argument("pickle")
    imp.add_argument("--out", required=True)
    imp.add_argument("--seq-len", type=length_int, default=20)
    imp.add_argument("--start-token", type=int, default=0)
    oracle.set_defaults(func=cmd_oracle)
