"""Read the oracle released with the SeqGAN paper's code, without running code from the file.

The file is a pickle of 15 float32 numpy arrays (the parameters of the paper's TF `TARGET_LSTM`),
written by Python 2 (protocol 0) or Python 3 (protocol 3). A pickle can call any importable
function while loading, so a restricted unpickler admits only what rebuilding an ndarray needs.

Layout, in order: embeddings (V, E); for the input, forget, output and candidate gates in turn
W (E, H), U (H, H), b (H,); then output weights (H, V) and output bias (V,).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

# The globals an ndarray pickle references, under numpy 1.x and 2.x module names.
_ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in protocols 0-2
})
NUM_ARRAYS = 15
_GATE_NAMES = {"i": "input", "f": "forget", "o": "output", "c": "candidate"}
_FILE_GATE_START = {"i": 1, "f": 4, "o": 7, "c": 10}  # index of each gate's W; U and b follow
_TORCH_GATE_ORDER = "ifco"  # nn.LSTM stacks gates as input, forget, cell (candidate), output


class UnsafePickleError(ValueError):
    """The pickle references something other than numpy arrays."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(f"refusing to load {module}.{name}: only numpy arrays are allowed "
                                    f"in a SeqGAN oracle pickle")
        return super().find_class(module, name)


def load_seqgan_arrays(path: str | Path) -> list[np.ndarray]:
    """The 15 arrays of the paper's oracle pickle, read without executing code from it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SeqGAN oracle pickle {str(path)!r} does not exist")
    with path.open("rb") as f:
        try:
            # latin1 decodes Python 2 byte strings (the array buffers) back to the same bytes.
            loaded = _NumpyOnlyUnpickler(f, encoding="latin1").load()
        except UnsafePickleError:
            raise
        except Exception as error:  # truncated or malformed: numpy and pickle raise many types
            raise ValueError(f"{str(path)!r} is not a readable pickle of numpy arrays: {error}") from error
    _check_array_list(loaded, str(path))
    return list(loaded)


def _check_array_list(loaded: object, where: str) -> None:
    if not isinstance(loaded, (list, tuple)):
        raise ValueError(f"{where}: expected a list of {NUM_ARRAYS} numpy arrays, found a {type(loaded).__name__}")
    if len(loaded) != NUM_ARRAYS:
        raise ValueError(f"{where}: expected a list of {NUM_ARRAYS} numpy arrays, "
                         f"found a {type(loaded).__name__} of {len(loaded)}")
    for index, item in enumerate(loaded):
        if not isinstance(item, np.ndarray) or not np.issubdtype(item.dtype, np.floating):
            found = f"an array of {item.dtype}" if isinstance(item, np.ndarray) else f"a {type(item).__name__}"
            raise ValueError(f"{where}: item {index} should be a float numpy array, found {found}")
        if not np.isfinite(item).all():
            raise ValueError(f"{where}: item {index} holds NaN or infinite values; an oracle needs finite weights")


def _layout(vocab: int, embed: int, hidden: int) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of each array in file order."""
    gates = [(f"{part} {_GATE_NAMES[g]}", shape) for g in "ifoc"
             for part, shape in (("W", (embed, hidden)), ("U", (hidden, hidden)), ("b", (hidden,)))]
    return [("embeddings", (vocab, embed)), *gates, ("output weights", (hidden, vocab)), ("output bias", (vocab,))]


def _infer_sizes(arrays: list[np.ndarray]) -> tuple[int, int, int]:
    """V and E from the embeddings, H from the input gate's W; the full check follows."""
    for index, what in ((0, "embeddings (V, E)"), (1, "W input (E, H)")):
        if arrays[index].ndim != 2:
            raise ValueError(f"array {index} ({what}): shape {arrays[index].shape}, expected 2 dimensions")
    vocab, embed = arrays[0].shape
    return vocab, embed, arrays[1].shape[1]


def seqgan_arrays_to_state_dict(arrays: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """The 15 arrays -> the Generator's state dict (embedding, single-layer nn.LSTM, out)."""
    _check_array_list(arrays, "SeqGAN oracle arrays")
    vocab, embed, hidden = _infer_sizes(arrays)
    for index, (array, (what, shape)) in enumerate(zip(arrays, _layout(vocab, embed, hidden))):
        if array.shape != shape:
            raise ValueError(f"array {index} ({what}): shape {array.shape}, expected {shape}")
    # torch.tensor copies, so the state dict never aliases the caller's arrays.
    t = [torch.tensor(np.asarray(a, dtype=np.float32)) for a in arrays]
    starts = [_FILE_GATE_START[g] for g in _TORCH_GATE_ORDER]
    return {
        "embedding.weight": t[0],
        # The paper computes x @ W; nn.LSTM computes W_ih @ x, hence the transposes.
        "lstm.weight_ih_l0": torch.cat([t[s].T for s in starts]).contiguous(),
        "lstm.weight_hh_l0": torch.cat([t[s + 1].T for s in starts]).contiguous(),
        "lstm.bias_ih_l0": torch.cat([t[s + 2] for s in starts]),
        "lstm.bias_hh_l0": torch.zeros(4 * hidden),  # the paper has one bias per gate
        "out.weight": t[13].T.contiguous(),
        "out.bias": t[14],
    }
