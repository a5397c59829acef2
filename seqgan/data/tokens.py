"""Token-id text files (one sequence a line, ids separated by spaces) and batching."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from seqgan.errors import BadFileError
from seqgan.files import atomic_write_bytes, read_text, text_lines

_TOKEN_ID = re.compile(r"-?[0-9]+")  # ASCII digits only


def read_tokens(path: str | Path, vocab_size: int, seq_len: int) -> torch.Tensor:
    """Read a token-id file -> LongTensor [N, seq_len]; errors name the file, line and value."""
    rows = []
    for number, line in enumerate(text_lines(read_text(path, "token file")), start=1):
        words = line.split()
        if words:
            rows.append(_token_ids(words, vocab_size, seq_len, f"{path}:{number}"))
    if not rows:
        raise BadFileError(f"token file {str(path)!r} holds no sequences")
    return torch.tensor(rows, dtype=torch.long)


def _token_ids(words: list[str], vocab_size: int, seq_len: int, where: str) -> list[int]:
    # The count first: a huge line is refused before anything is converted.
    if len(words) != seq_len:
        raise BadFileError(f"{where}: {len(words)} tokens, expected model.seq_len = {seq_len}")
    ids = []
    for word in words:
        if not _TOKEN_ID.fullmatch(word):  # int() would also take "+1", "1_0" and non-ASCII digits
            raise BadFileError(f"{where}: expected integer token ids, got {' '.join(words)[:60]!r}")
        # More than 20 digits is past any vocabulary (and int() refuses over 4300).
        if len(word) > 20 or not 0 <= int(word) < vocab_size:
            raise BadFileError(f"{where}: token id {word[:24]} outside [0, {vocab_size}) (model.vocab_size)")
        ids.append(int(word))
    return ids


def format_tokens(tokens: torch.Tensor, vocabulary: list[str] | None = None) -> str:
    lines = []
    for row in tokens.tolist():
        lines.append(" ".join(vocabulary[i] for i in row) if vocabulary else " ".join(map(str, row)))
    return "\n".join(lines) + "\n"


def write_tokens(path: str | Path, tokens: torch.Tensor, vocabulary: list[str] | None = None) -> None:
    atomic_write_bytes(path, [format_tokens(tokens, vocabulary).encode()])


def read_vocabulary(path: str | Path, vocab_size: int) -> list[str]:
    """One word a line; line i is token i."""
    words = text_lines(read_text(path, "vocabulary"))
    if len(words) < vocab_size:
        raise BadFileError(f"vocabulary {str(path)!r} has {len(words)} words, model.vocab_size is {vocab_size}")
    return words


def batches(tokens: torch.Tensor, batch_size: int, generator: torch.Generator | None = None):
    """Full batches [batch_size, T] of a (shuffled when `generator` is given) set; the rest is dropped."""
    order = torch.randperm(len(tokens), generator=generator) if generator is not None else torch.arange(len(tokens))
    for start in range(0, len(tokens) - batch_size + 1, batch_size):
        yield tokens[order[start:start + batch_size]]
