"""D scores of Monte Carlo completions, sharing the work their prefixes have in common.

A conv window that lies wholly inside the prefix y_1..y_t sees the same tokens in every
completion of that prefix as in the sample itself, so the max over those windows is a running
max of the sample's own conv outputs, computed once per sample. Only windows that touch the
completed suffix are convolved per completion; the highway and output layers then run on the
pooled features as usual. Same result as `Discriminator.real_prob` (to float rounding).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from seqgan.models import Discriminator


@torch.no_grad()
def prefix_window_max(disc: Discriminator, samples: torch.Tensor) -> list[torch.Tensor]:
    """Per conv: running max over windows of the samples [b, T] -> [b, F, W]; entry s is the max
    over windows starting at 0..s (relu outputs, so 0 stands for "no window")."""
    embedded = disc.embedding(samples).transpose(1, 2)  # [b, E, T]
    return [F.relu(conv(embedded)).cummax(dim=-1).values for conv in disc.convs]


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
        suffix = F.relu(conv(embedded[:, :, first_touching:])).amax(dim=-1)  # [R, F]
        if first_touching > 0:  # windows 0..first_touching-1 lie inside the prefix
            suffix = torch.maximum(suffix, running[sample_rows, :, first_touching - 1])
        pooled.append(suffix)
    return torch.softmax(disc.head(torch.cat(pooled, dim=1)), dim=-1)[:, 1]
