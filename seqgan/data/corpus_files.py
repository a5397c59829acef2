"""A corpus directory: text files in, checked token-id files out, and back.

    vocab.txt                 one token a line; line i (from 0) is id i: <eos>, <unk>, then by count
    train.txt, test.txt       token ids separated by spaces, seq_len a line (the token-file format)
    train.lengths, test.lengths   one integer a line: the sentence's tokens before its <eos>
    corpus.json               the settings (tokenizer, min_count, max_vocab, seq_len, long, the test
                              split), vocab_size and, per split, lines read, kept, cut, dropped, unk rate

Every file is written atomically, corpus.json last: a directory without it holds no corpus. Reading
checks every file against the others and raises BadFileError naming the file and line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgan.config import MAX_SEQ_LEN
from seqgan.data.corpus import (EOS, EOS_ID, LONG_POLICIES, SPECIALS, TOKENIZERS, UNK, Encoded, build_vocabulary,
                                drop_unknown, encode, first_eos_lengths, fit_length, split_held_out, tokenize_lines)
from seqgan.files import text_lines, read_text
from seqgan.data.tokens import format_tokens, read_tokens
from seqgan.errors import BadFileError
from seqgan.files import atomic_write_bytes

FORMAT, VERSION = "seqgan-corpus", 1
SPLITS = ("train", "test")


@dataclass
class Corpus:
    vocabulary: list[str]
    train: torch.Tensor  # [N, seq_len] ids
    test: torch.Tensor  # [M, seq_len]
    train_lengths: torch.Tensor  # [N] tokens before the first <eos> (seq_len: cut, no <eos>)
    test_lengths: torch.Tensor  # [M]
    settings: dict  # corpus.json

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    @property
    def seq_len(self) -> int:
        return self.train.shape[1]


def build_corpus(train_file: str, out: str | Path, *, test_file: str | None = None,
                 test_fraction: float | None = None, seed: int = 0, tokenizer: str = "word", min_count: int = 1,
                 max_vocab: int | None = None, seq_len: int = 20, long: str = "drop") -> dict:
    """Read the text files, build the vocabulary on the training lines, encode both splits, write
    the directory and return corpus.json's content. The test set is `test_file`, or a seeded
    `test_fraction` of the training file's lines."""
    if (test_file is None) == (test_fraction is None):
        raise ValueError("give the test set: --test FILE or --test-fraction F (a seeded held-out part of TRAIN)")
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"--tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
    if not 2 <= seq_len <= MAX_SEQ_LEN:
        raise ValueError(f"--seq-len must be in [2, {MAX_SEQ_LEN}] (a token and <eos>, at most the model's "
                         f"model.seq_len), got {seq_len}")
    _refuse_existing(Path(out))
    train_tokens = tokenize_lines(_text_lines(train_file), tokenizer, str(train_file))
    if test_file is not None:
        test_tokens = tokenize_lines(_text_lines(test_file), tokenizer, str(test_file))
        test_source = {"file": str(test_file)}
    else:
        train_part, test_part = split_held_out(len(train_tokens), test_fraction, seed)
        train_tokens, test_tokens = [train_tokens[i] for i in train_part], [train_tokens[i] for i in test_part]
        test_source = {"fraction": test_fraction, "seed": seed, "from": str(train_file)}
    (train_kept, train_stats), (test_kept, test_stats) = (fit_length(train_tokens, seq_len, long),
                                                         fit_length(test_tokens, seq_len, long))
    vocabulary = build_vocabulary(train_kept, min_count, max_vocab)  # of what is trained on
    splits = {}
    for name, kept, stats in (("train", train_kept, train_stats), ("test", test_kept, test_stats)):
        known, stats = drop_unknown(kept, vocabulary, stats)
        if not known:
            raise BadFileError(f"the {name} split keeps no sentence ({stats}); a longer --seq-len or --long cut "
                               "keeps long ones, a lower --min-count or a larger --max-vocab more words")
        splits[name] = encode(known, vocabulary, seq_len, stats)
    settings = {"format": FORMAT, "version": VERSION, "tokenizer": tokenizer, "min_count": min_count,
                "max_vocab": max_vocab, "seq_len": seq_len, "long": long, "vocab_size": len(vocabulary),
                "train_source": str(train_file), "test_source": test_source,
                **{name: encoded.stats for name, encoded in splits.items()}}
    write_corpus(out, vocabulary, splits, settings)
    return settings


def _text_lines(path: str) -> list[str]:
    lines = text_lines(read_text(path, "text file"))
    if not any(line.strip() for line in lines):
        raise BadFileError(f"text file {str(path)!r} holds no text")
    return lines


def _refuse_existing(out: Path) -> None:
    """Nothing written is replaced: a corpus goes into a new or empty directory."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{str(out)!r} already exists and is not an empty directory: give another --out "
                              "(nothing was overwritten)")


def write_corpus(out: str | Path, vocabulary: list[str], splits: dict[str, Encoded], settings: dict) -> None:
    out = Path(out)
    atomic_write_bytes(out / "vocab.txt", ["".join(f"{token}\n" for token in vocabulary).encode()])
    for name, encoded in splits.items():
        atomic_write_bytes(out / f"{name}.txt", [format_tokens(encoded.ids).encode()])
        atomic_write_bytes(out / f"{name}.lengths", ["".join(f"{n}\n" for n in encoded.lengths.tolist()).encode()])
    atomic_write_bytes(out / "corpus.json", [json.dumps(settings, indent=2, ensure_ascii=False).encode() + b"\n"])


def read_corpus(folder: str | Path) -> Corpus:
    """A corpus directory, every file checked against corpus.json and the others."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadFileError(f"corpus directory {str(folder)!r} does not exist or is not a directory "
                           "(make one with: seqgan corpus build)")
    settings = read_settings(folder / "corpus.json")
    vocabulary = read_corpus_vocabulary(folder / "vocab.txt", settings["vocab_size"])
    data = {}
    for name in SPLITS:
        ids = read_tokens(folder / f"{name}.txt", settings["vocab_size"], settings["seq_len"])
        lengths = _read_lengths(folder / f"{name}.lengths", len(ids), settings["seq_len"])
        _check_padding(ids, lengths, folder / f"{name}.txt", folder / f"{name}.lengths")
        data[name], data[f"{name}_lengths"] = ids, lengths
    return Corpus(vocabulary, settings=settings, **data)


def read_settings(path: Path) -> dict:
    """corpus.json, with the fields a reader relies on checked."""
    try:
        settings = json.loads(read_text(path, "corpus settings"))
    except json.JSONDecodeError as error:
        raise BadFileError(f"corpus settings {str(path)!r} is not JSON: line {error.lineno}: {error.msg}") from None
    if not isinstance(settings, dict) or settings.get("format") != FORMAT:
        raise BadFileError(f"corpus settings {str(path)!r}: expected a JSON object with format {FORMAT!r}")
    if settings.get("version") != VERSION:
        raise BadFileError(f"corpus settings {str(path)!r}: version {settings.get('version')!r}, expected {VERSION}")
    checks = {"vocab_size": lambda v: _is_int(v) and v > len(SPECIALS), "seq_len": lambda v: _is_int(v) and v >= 2,
              "tokenizer": lambda v: v in TOKENIZERS, "long": lambda v: v in LONG_POLICIES}
    for key, ok in checks.items():
        if not ok(settings.get(key)):
            raise BadFileError(f"corpus settings {str(path)!r}: {key} = {settings.get(key)!r} is not valid")
    return settings


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_corpus_vocabulary(path: Path, vocab_size: int) -> list[str]:
    """vocab.txt: exactly vocab_size distinct, non-empty tokens, <eos> and <unk> first."""
    tokens = text_lines(read_text(path, "vocabulary"))
    if len(tokens) != vocab_size:
        raise BadFileError(f"vocabulary {str(path)!r} has {len(tokens)} tokens, corpus.json says vocab_size "
                           f"{vocab_size}")
    if tokens[:len(SPECIALS)] != list(SPECIALS):
        raise BadFileError(f"vocabulary {str(path)!r}: lines 1-2 must be {EOS} and {UNK}, got {tokens[:2]}")
    seen: dict[str, int] = {}
    for number, token in enumerate(tokens, start=1):
        if token == "":
            raise BadFileError(f"{path}:{number}: an empty token")
        if token in seen:
            raise BadFileError(f"{path}:{number}: token {token[:40]!r} is also on line {seen[token]}")
        seen[token] = number
    return tokens


def _read_lengths(path: Path, count: int, seq_len: int) -> torch.Tensor:
    lines = text_lines(read_text(path, "lengths file"))
    if len(lines) != count:
        raise BadFileError(f"lengths file {str(path)!r} has {len(lines)} lines, its token file {count} sequences")
    lengths = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= seq_len):
            raise BadFileError(f"{path}:{number}: expected a sentence length in [1, {seq_len}], got {line[:40]!r}")
        lengths.append(int(text))
    return torch.tensor(lengths, dtype=torch.long)


def _check_padding(ids: torch.Tensor, lengths: torch.Tensor, ids_path: Path, lengths_path: Path) -> None:
    """Row i: lengths[i] tokens (no <eos>), then only <eos>. Names the first row that is not."""
    positions = torch.arange(ids.shape[1]).expand_as(ids)  # [N, T]
    after_end = positions >= lengths[:, None]  # [N, T]: <eos> and padding
    wrong = (first_eos_lengths(ids) != lengths) | ((ids != EOS_ID) & after_end).any(dim=1)  # [N]
    if wrong.any():
        row = int(wrong.nonzero()[0])
        raise BadFileError(f"{lengths_path}:{row + 1}: length {int(lengths[row])}, but sequence {row + 1} of "
                           f"{ids_path} is not that many tokens followed by {EOS} (id {EOS_ID}) padding")


def check_corpus_fits(corpus: Corpus, vocab_size: int, seq_len: int, batch_size: int, where: str) -> None:
    """The model's sizes must be the corpus's (a clear error, not a silent resize); ConfigError."""
    from seqgan.config import ConfigError

    if corpus.vocab_size != vocab_size:
        raise ConfigError(f"data.corpus {where!r} has {corpus.vocab_size} tokens in its vocabulary, but "
                          f"model.vocab_size is {vocab_size}: set model.vocab_size={corpus.vocab_size}")
    if corpus.seq_len != seq_len:
        raise ConfigError(f"data.corpus {where!r} was built with seq_len {corpus.seq_len}, but model.seq_len is "
                          f"{seq_len}: set model.seq_len={corpus.seq_len} (or rebuild it with --seq-len {seq_len})")
    if len(corpus.train) < batch_size:  # MLE and D use full batches only: a smaller set trains nothing
        raise ConfigError(f"data.corpus {where!r} holds {len(corpus.train)} training sequences, fewer than "
                          f"data.batch_size = {batch_size}")
