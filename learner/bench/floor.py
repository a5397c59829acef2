"""`floor_s` of `bench rollout`: the time of the work any exact engine must do for one reward computation.

Every engine that gives the same rewards must, for each of the B·N·Σ(T−t) completed tokens, step the
LSTM once and make G's distribution over V and a draw; and for each of the B·N·(T−1) completions,
convolve every window of D that holds a sampled token (windows inside the prefix may be shared: that
is what prefix-window sharing does) and run D's highway and output layers. Each part is timed alone,
in blocks as large as the fast engine's, on stand-in values of the right shapes (values do not change
the cost of dense fp32 arithmetic). Left out, so this stays a lower bound: the embedding lookups, the
max over windows, and moving data between the parts."""
from __future__ import annotations

import torch

from seqgan.models import Discriminator, Generator
from seqgan.seeding import uniforms

HEAD_ROWS = 1024  # completions per D head call, as the fast engine's D calls on a CPU
STEP_ROWS = 65_536  # LSTM rows per step call: large enough to be arithmetic-bound, memory bounded


@torch.no_grad()
def floor_parts(generator: Generator, disc: Discriminator, batch: int, seq_len: int, rollouts: int,
                seconds, repeats: int) -> dict[str, float]:
    """Seconds per part of the unavoidable work; `seconds(fn, repeats)` is the bench's timer."""
    device = next(generator.parameters()).device
    tokens = batch * rollouts * sum(seq_len - t for t in range(1, seq_len))  # completed tokens
    completions = batch * rollouts * (seq_len - 1)
    hidden = torch.rand(tokens, generator.lstm.hidden_size, device=device) * 2 - 1  # LSTM outputs: (-1, 1)
    draws = uniforms(1, (tokens,), device)
    return {
        "lstm_s": seconds(lambda: lstm_steps(generator, hidden), repeats),
        "sample_s": seconds(lambda: generator.next_tokens(hidden, draws), repeats),
        "d_conv_s": seconds(lambda: unshared_windows(disc, batch * rollouts, seq_len, device), repeats),
        "d_head_s": seconds(lambda: head_calls(disc, completions, device), repeats),
    }


def lstm_steps(generator: Generator, hidden: torch.Tensor) -> None:
    """One LSTM step per completed token: hidden [tokens, H] stands in for h and c."""
    inputs = torch.zeros(len(hidden), dtype=torch.long, device=hidden.device)
    for r in range(0, len(hidden), STEP_ROWS):
        block = hidden[r:r + STEP_ROWS]
        generator.advance(inputs[r:r + STEP_ROWS], (block, block))


def unshared_windows(disc: Discriminator, completions_per_prefix: int, seq_len: int, device) -> None:
    """For each prefix length t and filter size s, the conv windows of its completions that reach past
    y_t: a [B·N, E, (T−t) + min(s−1, t)] input gives exactly T − s + 1 − max(0, t − s + 1) windows
    (rewards.scoring.conv_flops counts the same windows)."""
    embed = disc.embedding.embedding_dim
    tail = torch.rand(completions_per_prefix, embed, seq_len, device=device) * 2 - 1  # [B·N, E, T]
    for t in range(1, seq_len):
        for conv in disc.convs:
            size = conv.kernel_size[0]
            length = (seq_len - t) + min(size - 1, t)
            if length >= size:
                conv(tail[:, :, :length])


def head_calls(disc: Discriminator, completions: int, device) -> None:
    """D's highway and output layers for every completion, HEAD_ROWS at a time."""
    features = torch.rand(min(completions, HEAD_ROWS), disc.out.in_features, device=device)
    for start in range(0, completions, HEAD_ROWS):
        disc.head(features[:min(HEAD_ROWS, completions - start)])
