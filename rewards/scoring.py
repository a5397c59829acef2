"""D scores of Monte Carlo completions, sharing the work their prefixes have in common.

A conv window that lies wholly inside the prefix y_1..y_t sees the same tokens in every
completion of that prefix as in the sample itself, so the max over those windows is a running
max of the sample's own conv outputs, computed once per sample. Only windows that touch the
completed suffix are convolved per completion; the highway and output layers then run on the
pooled features as usual. Same result as `Discriminator.real_prob` (to float rounding).
"""
from __future__ import annotations

import torch

from seqgan.models import Discriminator


@torch.no_grad()
def prefix_window_max(disc: Discriminator, samples: torch.Tensor) -> list[torch.Tensor]:
    """Per conv: running max over windows of the samples [b, T] -> [b, F, W]; entry s is the max
    over windows starting at 0..s (relu outputs, so 0 stands for "no window")."""
    embedded = disc.embedding(samples).transpose(1, 2)  # [b, E, T]
    # relu after the running max: the same values (relu is monotone), one pass over a smaller tensor
    return [conv(embedded).cummax(dim=-1).values.relu_() for conv in disc.convs]


@torch.no_grad()
def score_prefix_group(disc: Discriminator, completions: torch.Tensor, prefix: int, sample_rows: torch.Tensor,
                       window_max: list[torch.Tensor]) -> torch.Tensor:
    """P(real) [R] of completions [R, T] that all keep the first `prefix` tokens of their sample;
    sample_rows [R] says which sample (row of window_max) each completion extends."""
    embedded = disc.embedding(completions).transpose(1, 2)  # [R, E, T]
    pooled = []
    for conv, running in zip(disc.convs, window_max):
        size = conv.kernel_size[0]
        first_touching = max(0, prefix - size + 1)  # first window that reaches past the prefix
        suffix = conv(embedded[:, :, first_touching:]).amax(dim=-1).relu_()  # [R, F]; relu commutes with max
        if first_touching > 0:  # windows 0..first_touching-1 lie inside the prefix
            suffix = torch.maximum(suffix, running[sample_rows, :, first_touching - 1])
        pooled.append(suffix)
    return torch.softmax(disc.head(torch.cat(pooled, dim=1)), dim=-1)[:, 1]


class DiscriminatorScorer:
    """The rollout engine's scorer for SeqGAN: a completion's reward is D's P(real)."""

    def __init__(self, disc: Discriminator):
        self.disc = disc

    def prefix_context(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """D's window maxima of the samples [b, T], shared by all completions of their prefixes."""
        return prefix_window_max(self.disc, rows)

    def score(self, completions: torch.Tensor, prefix: int, sample_rows: torch.Tensor, context) -> torch.Tensor:
        """P(real) [R] of completions [R, T] keeping the first `prefix` tokens of sample `sample_rows`."""
        return score_prefix_group(self.disc, completions, prefix, sample_rows, context)

    def score_sequences(self, tokens: torch.Tensor) -> torch.Tensor:
        """P(real) [R] of whole sequences [R, T], nothing shared (the reference engine, the last token)."""
        return self.disc.real_prob(tokens)


def as_scorer(scorer):
    """A Discriminator is scored as DiscriminatorScorer(it); any other scorer is used as it is."""
    return DiscriminatorScorer(scorer) if isinstance(scorer, Discriminator) else scorer


def conv_flops(seq_len: int, rollouts: int, embed_dim: int, filter_sizes: list[int],
               num_filters: list[int]) -> tuple[int, int]:
    """D's convolution FLOPs (2 per multiply-add) to score the N rollouts of every prefix y_1..y_t,
    t = 1..T-1, of one sample: (with prefix-window sharing, convolving every window). Sharing
    convolves the sample's own windows once, then per completion only the windows that reach past
    its prefix; the reference convolves all T - s + 1 windows of every completion."""
    shared = every = 0
    for size, filters in zip(filter_sizes, num_filters):
        per_window, windows = 2 * embed_dim * size * filters, seq_len - size + 1
        every += per_window * windows * (seq_len - 1) * rollouts
        past_prefix = sum(windows - max(0, t - size + 1) for t in range(1, seq_len))
        shared += per_window * (windows + past_prefix * rollouts)
    return shared, every
