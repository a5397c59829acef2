"""Numbers that never go silent: the learner's checks for NaN and infinity in losses, gradient
norms, rewards, D's scores and weights. Each stops the phase at the step where the value appears,
before anything is broadcast or checkpointed, with one message shape:
"<phase> step <n>: <what is wrong>; the run stops here and keeps its last checkpoint".
A finite value can be as wrong as a NaN: a per-token NLL far past a uniform guess's (ln V) means the
run diverged, and stops it the same way (`require_bounded`).

On a GPU every read of a value waits for the device. So the learner counts bad values on the device
(`nonfinite`) over an epoch or round and reads the counts once, with the loss it reads anyway (`read`).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch

KEPT = "the run stops here and keeps its last checkpoint"
DIVERGED = 10.0  # x ln V: a per-token NLL this far past a uniform guess (ln V nats) is divergence, not training
PER_TOKEN_NLLS = ("nll_test", "nll_oracle")  # per-token NLLs in every phase (and g_loss in MLE)


def where(phase: str, step: int | None) -> str:
    return phase if step is None else f"{phase} step {step}"


def nonfinite(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """How many entries of `tensors` are NaN or infinite: a count on their device, not read yet."""
    return torch.stack([(~torch.isfinite(t)).sum() for t in tensors]).sum()


def read(*scalars: torch.Tensor) -> list[float]:
    """0-d tensors on one device, read in one sync (as float64: exact for counts and float32 values)."""
    return torch.stack([s.double() for s in scalars]).tolist()


def require_finite(phase: str, step: int | None, values: dict[str, float] | None = None,
                   counts: dict[str, float] | None = None) -> None:
    """values: scalars that must be finite; counts: how many NaN or infinite entries a tensor
    quantity holds (must be 0). Every bad quantity is named, in the order given."""
    found = [f"{quantity} is {value}" for quantity, value in (values or {}).items() if not math.isfinite(value)]
    found += [f"{quantity} hold {_several(count, 'NaN or infinite value')}"
              for quantity, count in (counts or {}).items() if count]
    if found:
        raise FloatingPointError(f"{where(phase, step)}: {'; '.join(found)}; {KEPT}")


def require_bounded(phase: str, step: int | None, values: dict, vocab_size: int) -> None:
    """A step's per-token NLLs (evaluations, and MLE's loss) at most DIVERGED x ln V."""
    limit = DIVERGED * math.log(vocab_size)
    keys = PER_TOKEN_NLLS + (("g_loss",) if phase == "mle" else ())
    found = [f"{key} = {values[key]:.4g}" for key in keys
             if isinstance(values.get(key), (int, float)) and values[key] > limit]
    if found:
        raise FloatingPointError(f"{where(phase, step)}: {', '.join(found)} nats per token, above {DIVERGED:g} x "
                                 f"ln V = {limit:.4g} (model.vocab_size {vocab_size}): the run diverged (a learning "
                                 f"rate or generator.init_std too large?); {KEPT}")


def require_rewards(rewards: torch.Tensor, phase: str, step: int | None) -> None:
    """Rewards are D's probabilities averaged over rollouts: anything outside [0, 1] means D or the
    rollouts broke. Checked before the update, so bad rewards never train G (they arrive on the
    CPU: no device sync)."""
    require_finite(phase, step, counts={"rewards": int(nonfinite([rewards]))})
    outside = (rewards < 0) | (rewards > 1)
    if outside.any():
        raise FloatingPointError(f"{where(phase, step)}: rewards hold {_several(outside.sum(), 'value')} outside "
                                 f"[0, 1] (min {rewards.min().item():.4g}, max {rewards.max().item():.4g}); {KEPT}")


def _several(count: float | torch.Tensor, noun: str) -> str:
    count = int(count)
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
