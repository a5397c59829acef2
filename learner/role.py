"""The learner's interface, as the driver uses it: the in-process Learner (learner/learner.py) and the
Ray learner handle (learner/remote.py, which forwards exactly these methods) both satisfy it."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from seqgan.packing import PackedWeights


@runtime_checkable
class LearnerRole(Protocol):
    def load_real_data(self, train: torch.Tensor, test: torch.Tensor) -> None:
        """The real sequences [N, T] / [M, T], sent once."""

    def publish(self, name: str) -> tuple[int, PackedWeights]:
        """The current version of a model (or of the references) and its payload."""

    def continue_versions(self, published: dict[str, int]) -> None:
        """Number the next versions past those the workers hold."""

    def mle_epoch(self, epoch: int, keep: float = 1.0) -> float:
        """One epoch of maximum likelihood (scheduled sampling below keep 1); mean token NLL."""

    def pg_step(self, samples: torch.Tensor, rewards: torch.Tensor, step: int | None = None) -> float:
        """One policy-gradient step on samples [B, T] with rewards [B, T]; the loss."""

    def update_rollout_policy(self) -> None:
        """The rollout policy follows G."""

    def train_discriminator(self, negatives: torch.Tensor, key: int) -> dict:
        """A round of D on the real data and `negatives`; loss and accuracy."""

    def final_rewards(self, samples: torch.Tensor) -> torch.Tensor:
        """The reward [B] of the last token of samples [B, T]."""

    def disc_heldout(self, negatives: torch.Tensor) -> dict:
        """D on held-out real data against fresh samples."""

    def nll_test(self) -> float:
        """G's per-token NLL on held-out real data."""

    def state(self) -> dict:
        """Everything a checkpoint holds."""

    def load_state(self, state: dict) -> None:
        """Back to a checkpoint's state."""

    def torch_threads(self) -> int:
        """The intra-op threads the learner's updates run with (recorded in summary.json)."""

    def restart(self) -> None:
        """A fresh learner in place of this one (then restored from a checkpoint)."""


def role_methods() -> tuple[str, ...]:
    """The names of LearnerRole's methods, in declaration order."""
    return tuple(name for name, value in vars(LearnerRole).items()
                 if callable(value) and not name.startswith("_"))
