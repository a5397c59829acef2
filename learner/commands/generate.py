"""`seqgan sample` (from a trained run) and `seqgan eval` (NLL-oracle of a token file)."""
from __future__ import annotations

import signal
import threading

import argparse

from learner.stopping import interrupt_now
from learner.commands.common import new_output, positive_int, seed_int, temperature_value
from seqgan.config import MAX_SEQUENCES
from seqgan.seeding import SAMPLE_CHUNK, sample_draws


def sample_count(text: str) -> int:
    """argparse type: a number of sequences in [1, MAX_SEQUENCES]."""
    value = positive_int(text)
    if value > MAX_SEQUENCES:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SEQUENCES} sequences, got {value}")
    return value


def cmd_sample(args) -> None:
    from learner.run.checkpoint import load_generator
    from seqgan.files import atomic_write_bytes

    new_output(args.out)
    generator = load_generator(args.run)
    format_lines = _line_formatter(args, generator.vocab_size)
    # SIGTERM stops the sampling as Ctrl-C does, so the temporary file is removed.
    saved = signal.signal(signal.SIGTERM, interrupt_now) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        atomic_write_bytes(args.out, _sample_text(generator, args.n, args.seed, format_lines, args.temperature))
    finally:
        if saved is not None:
            signal.signal(signal.SIGTERM, saved)
    print(f"wrote {args.n} {'sentences' if args.format == 'text' else 'sequences'} to {args.out}")


def _line_formatter(args, vocab_size: int):
    """tokens [N, T] -> text: sentences (--format text), words (--vocab) or token ids."""
    from functools import partial

    from seqgan.data.corpus import format_sentences
    from seqgan.data.tokens import format_tokens, read_vocabulary

    if args.format == "text":
        vocabulary, tokenizer = _sentence_vocabulary(args, vocab_size)
        return partial(format_sentences, vocabulary=vocabulary, tokenizer=tokenizer)
    return partial(format_tokens, vocabulary=read_vocabulary(args.vocab, vocab_size) if args.vocab else None)


def _sentence_vocabulary(args, vocab_size: int) -> tuple[list[str], str | None]:
    """(vocabulary, tokenizer) for --format text: --vocab FILE, else the corpus directory named in
    the run's config (data.corpus; a relative path is taken from the working directory)."""
    from seqgan.data.tokens import read_vocabulary

    if args.vocab:
        return read_vocabulary(args.vocab, vocab_size), None
    from pathlib import Path

    from learner.run.checkpoint import run_config
    from learner.run.store import RunStore
    from seqgan.data.corpus_files import read_corpus_vocabulary, read_settings

    corpus = run_config(RunStore(args.run)).data.corpus
    if corpus is None:
        raise ValueError(f"run {args.run!r} was not trained on a corpus (data.corpus is null): "
                         "--format text needs --vocab FILE")
    settings = read_settings(Path(corpus) / "corpus.json")
    vocabulary = read_corpus_vocabulary(Path(corpus) / "vocab.txt", settings["vocab_size"])
    if len(vocabulary) != vocab_size:
        raise ValueError(f"corpus {corpus!r} has {len(vocabulary)} tokens, the run's generator {vocab_size}")
    return vocabulary, settings["tokenizer"]


def _sample_text(generator, count: int, seed: int, format_lines=None, temperature: float = 1.0):
    """The sampled lines at `temperature`, SAMPLE_CHUNK sequences at a time (encoded text);
    format_lines(tokens [N, T]) makes the text (default: token ids)."""
    from seqgan.data.tokens import format_tokens

    format_lines = format_lines or format_tokens
    for uniforms in sample_draws(seed, count, generator.seq_len, SAMPLE_CHUNK):
        yield format_lines(generator.sample(uniforms, temperature)).encode()


def cmd_eval(args) -> None:
    from seqgan.data.tokens import read_tokens
    from seqgan.metrics import nll_per_token
    from seqgan.oracle import load_oracle

    oracle = load_oracle(args.oracle)
    tokens = read_tokens(args.samples, oracle.vocab_size, oracle.seq_len)
    print(f"{nll_per_token(oracle, tokens):.4f}")


def register(sub) -> None:
    sample = sub.add_parser("sample", help="sample from a trained run's generator")
    sample.add_argument("--run", required=True, help="run directory")
    sample.add_argument("-n", type=sample_count, required=True, help=f"number of sequences (at most {MAX_SEQUENCES})")
    sample.add_argument("--out", required=True,
                        help="output file (token ids, words with --vocab, sentences with --format text)")
    sample.add_argument("--vocab", help="vocabulary file, one word a line (line i = token i)")
    sample.add_argument("--format", choices=("ids", "text"), default="ids",
                        help="ids: every token of each sequence (words with --vocab); text: the sentence "
                             "before the first <eos>, words from --vocab or the run's data.corpus")
    sample.add_argument("--seed", type=seed_int, default=0)
    sample.add_argument("--temperature", type=temperature_value, default=1.0, metavar="TAU",
                        help="sampling temperature τ > 0: logits / τ, the same draws at every τ (default 1: "
                             "the generator as trained)")
    sample.set_defaults(func=cmd_sample)

    ev = sub.add_parser("eval", help="print the per-token NLL-oracle of a token-id file")
    ev.add_argument("--oracle", required=True)
    ev.add_argument("samples")
    ev.set_defaults(func=cmd_eval)
