"""Peak bytes of the tensors an engine creates, counted at the allocator's grain: every storage an
ATen op returns, from its creation until it is freed (weights and inputs made before are not counted)."""
from __future__ import annotations

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class PeakTensorBytes(TorchDispatchMode):
    """Inside `with PeakTensorBytes() as meter:`, `meter.peak` is the most bytes alive at once.

    Scratch buffers an op allocates and frees inside itself are not seen (allocator slack)."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}  # data pointer -> (storage, bytes)
        self.tracked = 0  # bytes of `live`, freed storages included until the next prune
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._track(tensor.untyped_storage())
        if self.tracked > self.peak:  # only a new high needs the exact count: drop what was freed
            self.live = {k: v for k, v in self.live.items() if not v[0].expired()}
            self.tracked = sum(nbytes for _, nbytes in self.live.values())
            self.peak = max(self.peak, self.tracked)
        return out

    def _track(self, storage) -> None:
        key = storage.data_ptr()
        held = self.live.get(key)
        if held is not None and not held[0].expired():
            return  # a view or an in-place result: no new memory
        if held is not None:
            self.tracked -= held[1]  # freed, its address reused
        self.live[key] = (StorageWeakRef(storage), storage.nbytes())
        self.tracked += storage.nbytes()
