"""Read the oracle released with the SeqGAN paper's code, without running code from the file.

The file is a pickle of 15 float32 numpy arrays (TARGET_LSTM's parameters), written by Python 2
(protocol 0) or Python 3 (protocol 3). A restricted unpickler admits only what numpy array
reconstruction needs and refuses every other global.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

# Exactly the globals an ndarray pickle references (numpy 1.x and 2.x module names).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes written by Python 2 / protocol <= 2
}
NUM_ARRAYS = 15
GATES = ("input", "forget", "output", "candidate")  # order in the file


class UnsafePickleError(ValueError):
    """The pickle references something other than numpy arrays."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(f"refusing {module}.{name}: only numpy arrays are allowed in a SeqGAN oracle pickle")
        return super().find_class(module, name)


def load_seqgan_arrays(path: str | Path) -> list[np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"oracle pickle {str(path)!r} does not exist")
    with path.open("rb") as f:
        try:
            arrays = _NumpyOnlyUnpickler(f, encoding="latin1").load()  # latin1: Python 2 byte strings
        except UnsafePickleError:
            raise
        except Exception as error:
            raise ValueError(f"{str(path)!r} is not a readable pickle of numpy arrays: {error}") from None
    if not isinstance(arrays, (list, tuple)) or len(arrays) != NUM_ARRAYS or \
            not all(isinstance(a, np.ndarray) for a in arrays):
        kind = f"{type(arrays).__name__} of {len(arrays)}" if isinstance(arrays, (list, tuple)) else type(arrays).__name__
        raise ValueError(f"{str(path)!r}: expected a list of {NUM_ARRAYS} numpy arrays, found a {kind}")
    return list(arrays)


def _check(array: np.ndarray, index: int, what: str, shape: tuple[int, ...]) -> torch.Tensor:
    if array.shape != shape:
        raise ValueError(f"array {index} ({what}): shape {array.shape}, expected {shape}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def seqgan_arrays_to_state_dict(arrays: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """The 15 arrays -> the Generator's state dict (nn.LSTM gate order: input, forget, cell, output)."""
    vocab, embed = arrays[0].shape
    hidden = arrays[1].shape[1]
    gates = {}
    for g, gate in enumerate(GATES):
        i = 1 + 3 * g
        gates[gate] = (_check(arrays[i], i, f"W {gate}", (embed, hidden)),
                       _check(arrays[i + 1], i + 1, f"U {gate}", (hidden, hidden)),
                       _check(arrays[i + 2], i + 2, f"b {gate}", (hidden,)))
    order = ("input", "forget", "candidate", "output")
    return {
        "embedding.weight": _check(arrays[0], 0, "embeddings", (vocab, embed)),
        "lstm.weight_ih_l0": torch.cat([gates[g][0].T for g in order]).contiguous(),
        "lstm.weight_hh_l0": torch.cat([gates[g][1].T for g in order]).contiguous(),
        "lstm.bias_ih_l0": torch.cat([gates[g][2] for g in order]),
        "lstm.bias_hh_l0": torch.zeros(4 * hidden),
        "out.weight": _check(arrays[13], 13, "output weights", (hidden, vocab)).T.contiguous(),
        "out.bias": _check(arrays[14], 14, "output bias", (vocab,)),
    }
