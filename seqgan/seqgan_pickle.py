"""Read the oracle released with the SeqGAN paper's code, without running code from the file.

The file is a pickle of 15 float32 numpy arrays (the parameters of the paper's TF `TARGET_LSTM`),
written by Python 2 (protocol 0) or Python 3 (protocol 3). A pickle can call any importable
function while loading, so a restricted unpickler admits only what rebuilding an ndarray needs.

Layout, in order: embeddings (V, E); for the input, forget, output and candidate gates in turn
W (E, H), U (H, H), b (H,); then output weights (H, V) and output bias (V,).
"""
from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from seqgan.errors import BadFileError
from seqgan.files import read_user_file

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


class UnsafePickleError(BadFileError):
    """The pickle references something other than numpy arrays."""


class _WholeLines(io.BytesIO):
    """The Python unpickler drops a line's last byte as its newline: a file cut inside a line
    would name a truncated global ("numpy.dtyp") instead of saying it was cut."""

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if line and not line.endswith(b"\n"):
            raise pickle.UnpicklingError("pickle data was truncated")
        return line


def _refuse_bytearray8(_):
    raise pickle.UnpicklingError("BYTEARRAY8 (protocol 5) is not in an oracle pickle")


class _NumpyOnlyUnpickler(pickle._Unpickler):
    """Python's own unpickler rather than the C one: its memo is a dict, where the C unpickler grows
    an array to the largest memo index the file names (gigabytes from a few bytes). Its one opcode
    that allocates a length read from the file before reading the data is refused."""
    dispatch = {**pickle._Unpickler.dispatch, pickle.BYTEARRAY8[0]: _refuse_bytearray8}

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(f"refusing to load {module}.{name}: only numpy arrays are allowed "
                                    f"in a SeqGAN oracle pickle")
        found = super().find_class(module, name)
        return _GUARDED.get(name, lambda f: f)(found)


class _ArrayClassToken:
    """Stands in for numpy.ndarray, which a pickle names only as _reconstruct's first argument:
    the class itself, called by the pickle, would allocate whatever shape the file asks for.
    No slots and no __dict__: the pickle cannot call it or set attributes on it."""
    __slots__ = ()


_ARRAY_CLASS = _ArrayClassToken()


def _guard_ndarray(_):
    return _ARRAY_CLASS


def _guard_reconstruct(reconstruct):
    """numpy pickles an array as an empty placeholder that BUILD then fills from the file's bytes
    (so its size is the bytes'); any other shape here would allocate what the file's numbers ask."""
    def empty_array(subtype, shape, dtype):
        if subtype is not _ARRAY_CLASS or not isinstance(shape, tuple) or shape != (0,):
            raise UnsafePickleError(f"refusing numpy _reconstruct of shape {str(shape)[:40]}: only the empty "
                                    "(0,) ndarray placeholder numpy writes is allowed")
        return reconstruct(np.ndarray, shape, dtype)
    return empty_array


def _guard_dtype(dtype):
    """Numbers only: numpy crashes (segfault) filling an object array from a short list."""
    def numeric_dtype(*args):
        made = dtype(*args)
        if made.kind not in "biufc" or made.hasobject:
            raise UnsafePickleError(f"refusing numpy dtype {str(made)[:40]}: only numeric arrays are allowed")
        return made
    return numeric_dtype


def _guard_encode(encode):
    """Python 3 pickles bytes as _codecs.encode(text, 'latin1'); another codec could grow data
    without bound (base64 over and over) or run codec code."""
    def latin1_encode(text, encoding="utf-8", *rest):
        if not isinstance(encoding, str) or codecs.lookup(encoding).name != "iso8859-1" or rest:
            raise UnsafePickleError(f"refusing _codecs.encode with {str(encoding)[:40]!r}: only latin-1 is allowed")
        return encode(text, encoding)
    return latin1_encode


_GUARDED = {"_reconstruct": _guard_reconstruct, "ndarray": _guard_ndarray, "dtype": _guard_dtype,
            "encode": _guard_encode}


def load_seqgan_arrays(path: str | Path) -> list[np.ndarray]:
    """The 15 arrays of the paper's oracle pickle, read without executing code from it."""
    where = f"SeqGAN oracle pickle {str(path)!r}"
    data = read_user_file(path, "SeqGAN oracle pickle")
    if not data:
        raise BadFileError(f"{where} is empty, expected a pickle of {NUM_ARRAYS} numpy arrays")
    try:
        # latin1 decodes Python 2 byte strings (the array buffers) back to the same bytes.
        loaded = _NumpyOnlyUnpickler(_WholeLines(data), encoding="latin1").load()
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{where}: {error}") from None
    except Exception as error:  # truncated or malformed: numpy and pickle raise many types
        kind = type(error).__name__ if type(error).__module__ == "builtins" else \
            f"{type(error).__module__}.{type(error).__name__}"
        reason = f"{kind}: {error}" if str(error) else kind
        raise BadFileError(f"{where} is not a readable pickle of numpy arrays ({reason})") from None
    _check_array_list(loaded, where, BadFileError)
    return list(loaded)


def _check_array_list(loaded: object, where: str, error: type[ValueError] = ValueError) -> None:
    """`error`: BadFileError for a file's content, ValueError for arrays handed in."""
    if not isinstance(loaded, (list, tuple)):
        raise error(f"{where}: expected a list of {NUM_ARRAYS} numpy arrays, found a {type(loaded).__name__}")
    if len(loaded) != NUM_ARRAYS:
        raise error(f"{where}: expected a list of {NUM_ARRAYS} numpy arrays, "
                    f"found a {type(loaded).__name__} of {len(loaded)}")
    for index, item in enumerate(loaded):
        if not isinstance(item, np.ndarray) or not np.issubdtype(item.dtype, np.floating):
            found = f"an array of {item.dtype}" if isinstance(item, np.ndarray) else f"a {type(item).__name__}"
            raise error(f"{where}: item {index} should be a float numpy array, found {found}")
        if not np.isfinite(item).all():
            raise error(f"{where}: item {index} holds NaN or infinite values; an oracle needs finite weights")


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
