"""Token-id text files (one sequence a line, ids separated by spaces) and batching."""
from __future__ import annotations

from pathlib import Path

import torch

from seqgan.packing import atomic_write_bytes


def read_text(path: Path, what: str) -> str:
    """A text file's contents; a file that is not UTF-8 is an error naming it (`what` says what it is)."""
    try:
        return path.read_text()
    except UnicodeDecodeError as error:
        raise ValueError(f"{what} {str(path)!r} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_tokens(path: str | Path, vocab_size: int, seq_len: int) -> torch.Tensor:
    """Read a token-id file -> LongTensor [N, seq_len]; errors name the file, line and value."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"token file {str(path)!r} does not exist")
    rows = []
    for number, line in enumerate(read_text(path, "token file").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            ids = [int(word) for word in line.split()]
        except ValueError:
            raise ValueError(f"{path}:{number}: expected integer token ids, got {line.strip()[:60]!r}") from None
        if len(ids) != seq_len:
            raise ValueError(f"{path}:{number}: {len(ids)} tokens, expected model.seq_len = {seq_len}")
        bad = [i for i in ids if not 0 <= i < vocab_size]
        if bad:
            raise ValueError(f"{path}:{number}: token id {bad[0]} outside [0, {vocab_size}) (model.vocab_size)")
        rows.append(ids)
    if not rows:
        raise ValueError(f"token file {str(path)!r} holds no sequences")
    return torch.tensor(rows, dtype=torch.long)


def format_tokens(tokens: torch.Tensor, vocabulary: list[str] | None = None) -> str:
    lines = []
    for row in tokens.tolist():
        lines.append(" ".join(vocabulary[i] for i in row) if vocabulary else " ".join(map(str, row)))
    return "\n".join(lines) + "\n"


def write_tokens(path: str | Path, tokens: torch.Tensor, vocabulary: list[str] | None = None) -> None:
    atomic_write_bytes(path, [format_tokens(tokens, vocabulary).encode()])


def read_vocabulary(path: str | Path, vocab_size: int) -> list[str]:
    """One word a line; line i is token i."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary {str(path)!r} does not exist")
    words = read_text(path, "vocabulary").splitlines()
    if len(words) < vocab_size:
        raise ValueError(f"vocabulary {str(path)!r} has {len(words)} words, model.vocab_size is {vocab_size}")
    return words


def batches(tokens: torch.Tensor, batch_size: int, generator: torch.Generator | None = None):
    """Full batches [batch_size, T] of a (shuffled when `generator` is given) set; the rest is dropped."""
    order = torch.randperm(len(tokens), generator=generator) if generator is not None else torch.arange(len(tokens))
    for start in range(0, len(tokens) - batch_size + 1, batch_size):
        yield tokens[order[start:start + batch_size]]
