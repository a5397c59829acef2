"""`seqgan sample` (from a trained run) and `seqgan eval` (NLL-oracle of a token file)."""
from __future__ import annotations

from learner.commands.common import new_output, positive_int, seed_int


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


def register(sub) -> None:
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
