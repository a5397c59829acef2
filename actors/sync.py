"""The weight-sync protocol between the learner and the rollout workers, in one place.

The learner owns the models and numbers each version; a version is packed once (seqgan.packing) and
published: the same payload reaches every worker (one object-store copy on Ray). A worker applies
only versions newer than those it holds, so a restarted worker re-syncs on its next unit, and each
unit result says which versions it used, so the driver can check them against what it published.

Besides the learner's models, PG-BLEU publishes its training data as the pseudo-model `references`
(a token buffer packed like weights): not a checkpointed model, numbered past what workers hold.
"""
from __future__ import annotations

import torch
from torch import nn

from seqgan.packing import PackedWeights, load_into, pack_state, unpack_state

GENERATOR, ROLLOUT, DISCRIMINATOR = "generator", "rollout", "discriminator"
MODELS = (GENERATOR, ROLLOUT, DISCRIMINATOR)  # the learner's models: published and checkpointed
REFERENCES = "references"  # pg_bleu's training data, published like weights, never checkpointed
NONE_HELD = -1  # the version a worker holds before its first payload


class WeightsLost(RuntimeError):
    """Published weights can no longer be fetched (the node that held them is gone): the run goes
    back to its latest checkpoint and publishes again."""


class ReferenceTokens(nn.Module):
    """The training sequences [N, T] (token ids) as a buffer: packed, published and versioned like
    the weights of a model."""

    def __init__(self, tokens: torch.Tensor):
        super().__init__()
        self.register_buffer("tokens", tokens.detach().to(torch.int64).cpu())

    def pack(self, version: int) -> PackedWeights:
        return pack_state(self.state_dict(), REFERENCES, version)

    @classmethod
    def unpack(cls, packed: PackedWeights) -> ReferenceTokens:
        """Refuses anything but one int64 [N, T] tensor named `tokens` under the name `references`."""
        state = unpack_state(packed, copy=False)
        tokens = state.get("tokens")
        if packed.model != REFERENCES or set(state) != {"tokens"} or tokens.dtype != torch.int64 \
                or tokens.dim() != 2 or len(tokens) == 0:
            shapes = {name: (str(t.dtype), tuple(t.shape)) for name, t in state.items()}
            raise ValueError(f"{packed.model!r} is not the training references: expected model "
                             f"{REFERENCES!r} holding one non-empty int64 [N, T] tensor 'tokens', got {shapes}")
        return cls(tokens)


class Versions(dict):
    """The learner's side: the current version of each model (a dict, as checkpoints keep it) and,
    apart, of the references."""

    def __init__(self):
        super().__init__({name: 0 for name in MODELS})
        self.references = 0

    def of(self, name: str) -> int:
        return self.references if name == REFERENCES else self[name]

    def bump(self, *names: str) -> None:
        for name in names:
            self[name] += 1

    def continue_past(self, published: dict[str, int]) -> None:
        """Number the next versions past `published`: a learner restored from a checkpoint would
        otherwise publish versions its workers already hold (and ignore as stale)."""
        for name, version in published.items():
            if name == REFERENCES:
                self.references = max(self.references, version + 1)
            else:
                self[name] = max(self[name], version + 1)


def pack_references(tokens: torch.Tensor, version: int) -> PackedWeights:
    return ReferenceTokens(tokens).pack(version)


class Held:
    """A worker's side: its copy of each model it holds (the references as a ReferenceTokens) and
    the version of each; a payload is applied only when newer."""

    def __init__(self, models: dict[str, nn.Module], names: tuple[str, ...]):
        self.models = models  # name -> module; `references` arrives with its first payload
        self.versions = {name: NONE_HELD for name in names}

    def apply(self, packed: PackedWeights) -> bool:
        """Apply `packed` if it is newer than what is held; a stale version is ignored."""
        name, version = packed.model, packed.version
        if name not in self.versions:
            raise ValueError(f"unknown model {name!r}; expected one of {tuple(self.versions)}")
        if version <= self.versions[name]:
            return False
        if name == REFERENCES:  # a new data set, not new weights for a module of known shape
            self.models[name] = ReferenceTokens.unpack(packed)
        else:
            load_into(self.models[name], packed)
        self.versions[name] = version
        return True

    def require(self, names: tuple[str, ...]) -> dict[str, int]:
        """The versions of `names`, each of which must have arrived."""
        missing = [n for n in names if self.versions[n] == NONE_HELD]
        if missing:
            raise RuntimeError(f"worker has no weights for {missing} yet; publish them first")
        return {n: self.versions[n] for n in names}


def check_versions(results, published: dict[str, int]) -> None:
    """Every unit result was computed with the versions the driver published last."""
    for result in results:
        for name, version in result.versions.items():
            if version != published[name]:
                raise RuntimeError(f"unit {result.unit_index} used {name} v{version}, "
                                   f"expected the published v{published[name]}")
