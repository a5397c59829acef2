"""Variable-length sequences (`model.end_token`): a sentence ends at its first end token and is padded
to `model.seq_len` with the end token itself. With `end_token` None every sequence is fixed-length and
nothing here changes a tensor.

Sampling draws position t of every row from its uniform t; a row that has drawn its end token stops
stepping and is padded (so tokens stay a pure function of the explicit uniforms, whatever the engine or
the number of workers). Losses, NLL and rewards ignore the positions after the first end token, and
no work is spent on them. The end token itself counts: the model must learn to stop.
"""
from __future__ import annotations

import torch

from seqgan.errors import BadFileError


def first_end(tokens: torch.Tensor, end_token: int) -> torch.Tensor:
    """Column of each row's first end token: tokens [B, T] -> [B] long; T for a row without one."""
    is_end = tokens == end_token  # [B, T]
    # argmax gives the first maximum; a row without an end token ends at T (nothing past it)
    return torch.where(is_end.any(dim=1), is_end.byte().argmax(dim=1), tokens.shape[1])


def past_end(tokens: torch.Tensor, end_token: int | None) -> torch.Tensor | None:
    """Positions strictly after the first end token: tokens [B, T] -> bool [B, T]; None when
    `end_token` is None (fixed length: nothing is past the end). From each row's first end column
    rather than a cumsum: a few bytes a token, as rollout completions are many."""
    if end_token is None:
        return None
    first = first_end(tokens, end_token)  # [B]
    return torch.arange(tokens.shape[1], device=tokens.device) > first.unsqueeze(1)


def drop_ended(step: int, last: torch.Tensor, end_token: int | None, *rows: torch.Tensor) -> tuple:
    """A stepping batch sheds its ended rows: after each step, the rows whose last token `last` [A]
    is the end token leave `last` and each of `rows` ([A, ...], indexed alike). Whoever steps draws
    each token from its own row's state and uniform, so the others' tokens do not change. At step 0
    `last` holds no drawn token yet (the start token may be the end token): nothing leaves.
    Compacting at every step pays for itself: a copy of [A, H] states against a step's [A, V]
    logits and softmax (docs/benchmarks.md, "Text runs")."""
    if end_token is None or step == 0:
        return (last, *rows)
    going = last != end_token  # [A]
    return tuple(x[going] for x in (last, *rows))


def pad_after_end(tokens: torch.Tensor, end_token: int | None) -> torch.Tensor:
    """tokens [B, T] with every token after the first end token replaced by the end token (a new
    tensor); `tokens` itself when `end_token` is None."""
    ignored = past_end(tokens, end_token)
    return tokens if ignored is None else tokens.masked_fill(ignored, end_token)


def pad_after_end_(tokens: torch.Tensor, end_token: int | None) -> torch.Tensor:
    """`pad_after_end` in place, for freshly made sequences (no copy of a large tensor)."""
    ignored = past_end(tokens, end_token)
    return tokens if ignored is None else tokens.masked_fill_(ignored, end_token)


def kept_mean(values: torch.Tensor, ended: torch.Tensor | None) -> torch.Tensor:
    """Mean of values [B, T] over the positions not past the end (`ended` from `past_end`); the plain
    mean when `ended` is None. A metric: the zeros past the end would only dilute it."""
    return values.mean() if ended is None else values[~ended].mean()


def require_padded(tokens: torch.Tensor, end_token: int | None, where: str) -> None:
    """Real data [N, T] must follow the convention generated data does, or D could tell them apart by
    their padding alone: after a sequence's first end token, only end tokens."""
    ignored = past_end(tokens, end_token)
    if ignored is None:
        return
    bad = ignored & (tokens != end_token)  # [N, T]
    rows = bad.any(dim=1).nonzero()
    if len(rows):
        row = rows[0].item()
        column = bad[row].nonzero()[0].item()
        raise BadFileError(f"{where}: sequence {row + 1} (non-blank line) has token {tokens[row, column].item()} "
                           f"at position {column + 1}, after its end token {end_token} (model.end_token); "
                           "expected sentences padded to model.seq_len with the end token")
