"""`seqgan corpus build`: plain-text sentences (one a line) -> a corpus directory of token ids."""
from __future__ import annotations

import argparse
import math

from learner.commands.common import int_at_least, length_int, positive_int, seed_int

vocab_int = int_at_least(3, "an integer >= 3 (<eos>, <unk> and one token)")


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}") from None
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return value


def cmd_build(args) -> None:
    from seqgan.data.corpus_files import build_corpus

    settings = build_corpus(args.train, args.out, test_file=args.test, test_fraction=args.test_fraction,
                            seed=args.seed, tokenizer=args.tokenizer, min_count=args.min_count,
                            max_vocab=args.max_vocab, seq_len=args.seq_len, long=args.long)
    print(summary(settings))


def summary(settings: dict) -> str:
    """The build in a few lines: the settings, then per split what was kept, cut and dropped."""
    lines = [f"corpus {settings['vocab_size']} tokens in the vocabulary (<eos>, <unk> and "
             f"{settings['vocab_size'] - 2} seen >= {settings['min_count']} times), seq_len {settings['seq_len']}, "
             f"tokenizer {settings['tokenizer']}, long lines: {settings['long']}"]
    for name in ("train", "test"):
        s = settings[name]
        lines.append(f"  {name}: {s['lines']} lines, {s['kept']} kept ({s['cut']} cut), {s['dropped_long']} dropped "
                     f"as too long, {s['dropped_empty']} empty dropped, {s['dropped_unknown']} of only unknown "
                     f"tokens dropped; {s['tokens']} tokens, unk rate "
                     f"{100 * s['unk_rate']:.2f}%")
    lines.append(f"  set model.vocab_size: {settings['vocab_size']} and model.seq_len: {settings['seq_len']}")
    return "\n".join(lines)


def register(sub) -> None:
    corpus = sub.add_parser("corpus", help="plain-text corpora: build a directory of token ids")
    actions = corpus.add_subparsers(dest="corpus_command", required=True)
    build = actions.add_parser("build", help="tokenize TRAIN (and the test set), build the vocabulary, "
                                             "write vocab.txt, train/test ids and lengths, corpus.json")
    build.add_argument("train", help="training text, one sentence a line (UTF-8)")
    test = build.add_mutually_exclusive_group(required=True)
    test.add_argument("--test", help="test text, one sentence a line; encoded with the training vocabulary")
    test.add_argument("--test-fraction", type=fraction, metavar="F",
                      help="hold out this fraction of TRAIN's lines as the test set (drawn from --seed)")
    build.add_argument("--out", required=True, help="corpus directory (new or empty)")
    build.add_argument("--tokenizer", choices=("word", "char", "space"), default="word",
                       help="word: NLTK's word tokenizer per line; char: characters; space: whitespace split "
                            "(default: word)")
    build.add_argument("--min-count", type=positive_int, default=1, metavar="K",
                       help="tokens seen fewer than K times in TRAIN become <unk> (default: 1, keep all)")
    build.add_argument("--max-vocab", type=vocab_int, metavar="V",
                       help="at most V vocabulary entries, <eos> and <unk> included (the most frequent)")
    build.add_argument("--seq-len", type=length_int, default=20, metavar="T",
                       help="tokens per sequence: up to T-1 words and <eos>, padded with <eos> (default: 20)")
    build.add_argument("--long", choices=("drop", "cut"), default="drop",
                       help="sentences of more than T-1 tokens: drop them, or cut them to T tokens with no "
                            "<eos> (default: drop)")
    build.add_argument("--seed", type=seed_int, default=0, help="seed of the --test-fraction split (default: 0)")
    build.set_defaults(func=cmd_build)

