"""Weights as one flat byte buffer plus a small msgpack header.

The same packing broadcasts weights through the object store (one buffer per model version)
and stores models on disk (`.sgw` files), so no file of ours is ever unpickled.

File layout (`.sgw`): MAGIC, then the header length as 8 bytes little-endian, the msgpack
header, then the buffer. Header: {model, version, meta, tensors: [{name, dtype, shape, offset,
nbytes}], nbytes, checksum}; offsets index the buffer (multiples of 64, tensors never overlap);
dtypes are numpy names; nbytes is the buffer's length; checksum is the CRC-32 (zlib) of the msgpack
of every other header field (in the header's order), continued over the buffer. Files written
before checksums (`SEQGANW1`, no nbytes or checksum) are still read, with every other check.

A file is checked in full when read (header, layout, checksum, finite floats); weights handed
between processes in memory get the cheap header and layout checks only.
"""
from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np
import torch

from seqgan.errors import BadFileError
from seqgan.files import atomic_write_bytes, read_user_file, short

MAGIC = b"SEQGANW2"
MAGIC_V1 = b"SEQGANW1"  # before checksums
ALIGN = 64  # every tensor starts at a multiple of 64 bytes: aligned zero-copy views
_LENGTH_BYTES = 8
_DTYPES = {"float32", "float64", "float16", "int64", "int32", "uint8", "bool"}
_FLOAT_DTYPES = {"float32", "float64", "float16"}
_MAX_NDIM = 32  # numpy's limit is 64; no weight of ours has more than 4
_MAX_ELEMENTS = 2**62  # numpy refuses shapes whose product overflows int64, even with a zero size
_HEADER_KEYS = ("model", "version", "meta", "tensors")
_CHECKED_KEYS = ("nbytes", "checksum")  # since SEQGANW2
_ENTRY_KEYS = ("name", "dtype", "shape", "offset", "nbytes")


@dataclass(frozen=True)
class PackedWeights:
    header: bytes  # msgpack
    buffer: np.ndarray  # uint8 [nbytes]
    source: str = ""  # the file it was read from, named by errors; "" in memory

    @property
    def meta(self) -> dict:
        return msgpack.unpackb(self.header)

    @property
    def model(self) -> str:
        return self.meta["model"]

    @property
    def version(self) -> int:
        return self.meta["version"]


def pack_state(state: dict[str, torch.Tensor], model: str, version: int, meta: dict | None = None) -> PackedWeights:
    """Named tensors -> one contiguous buffer (a single copy) and a header with its checksum."""
    entries, arrays, offset = [], [], 0
    for name, tensor in state.items():
        array = tensor.detach().cpu().contiguous().numpy()
        padding = -offset % ALIGN
        arrays.append(np.zeros(padding, np.uint8))
        offset += padding
        entries.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape),
                        "offset": offset, "nbytes": array.nbytes})
        arrays.append(array.reshape(-1).view(np.uint8))
        offset += array.nbytes
    buffer = np.concatenate(arrays) if arrays else np.zeros(0, np.uint8)
    fields = {"model": model, "version": int(version), "meta": meta or {}, "tensors": entries,
              "nbytes": int(buffer.size)}
    return PackedWeights(msgpack.packb({**fields, "checksum": _checksum(fields, buffer)}), buffer)


def _checksum(fields: dict, buffer: np.ndarray) -> int:
    """CRC-32 of the header's fields and then the buffer: a changed bit anywhere is caught
    (about 1.3 ms for 8 MB, 2M float32 weights, on one CPU core)."""
    return zlib.crc32(memoryview(buffer), zlib.crc32(msgpack.packb(fields)))


def unpack_state(packed: PackedWeights, copy: bool = True) -> dict[str, torch.Tensor]:
    """Header + buffer -> named tensors. With copy=False they may be read-only views of the
    buffer (object-store buffers are read-only): only for callers that just read them."""
    header = _checked_header(packed)
    state = {}
    for entry in header["tensors"]:
        array = _view(packed.buffer, entry)
        if copy:
            array = array.copy()
        with warnings.catch_warnings():  # torch warns about read-only arrays; we only read them
            warnings.simplefilter("ignore", UserWarning)
            state[entry["name"]] = torch.from_numpy(array)
    return state


def _view(buffer: np.ndarray, entry: dict) -> np.ndarray:
    """One tensor's bytes as an array; the entry was checked against the buffer."""
    end = entry["offset"] + entry["nbytes"]
    return buffer[entry["offset"]:end].view(np.dtype(entry["dtype"])).reshape(entry["shape"])


def _checked_header(packed: PackedWeights) -> dict:
    """The decoded header after the cheap checks (layout against the buffer); no checksum."""
    try:
        header = decode_header(packed.header)
        check_header(header, packed.buffer.size, checked=False)
    except ValueError as error:
        raise _refusal(packed.source, f"corrupt header ({error})") from None
    return header


def _refusal(source: str, message: str) -> ValueError:
    """A file's problem names the file (BadFileError); weights in memory get a plain ValueError."""
    return BadFileError(f"weights file {source!r}: {message}") if source else ValueError(message)


def load_into(module: torch.nn.Module, packed: PackedWeights) -> None:
    """Copy packed weights into a module, in place; names, shapes and dtypes must match exactly.
    Everything is checked before the first copy, so a refused load leaves the module as it was."""
    state = unpack_state(packed, copy=False)  # copied once, into the module's own tensors
    own = module.state_dict()
    model = packed.model
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise _refusal(packed.source, f"weights for {model!r} do not fit: missing {missing}, unexpected {extra}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise _refusal(packed.source, f"{model}.{name}: shape {tuple(tensor.shape)}, "
                                          f"expected {tuple(own[name].shape)}")
        if tensor.dtype != own[name].dtype:  # a silent cast would hide a damaged or foreign file
            raise _refusal(packed.source, f"{model}.{name}: dtype {_dtype_name(tensor.dtype)}, "
                                          f"expected {_dtype_name(own[name].dtype)} (the model's)")
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def write_packed(path: str | Path, packed: PackedWeights) -> None:
    packed = _with_checksum(packed)
    length = len(packed.header).to_bytes(_LENGTH_BYTES, "little")
    atomic_write_bytes(path, [MAGIC, length, packed.header, memoryview(packed.buffer)])


def _with_checksum(packed: PackedWeights) -> PackedWeights:
    """Weights read from a SEQGANW1 file carry no checksum: add one, so what we write reads back."""
    header = packed.meta
    if "checksum" in header:
        return packed
    fields = {**header, "nbytes": int(packed.buffer.size)}
    return PackedWeights(msgpack.packb({**fields, "checksum": _checksum(fields, packed.buffer)}), packed.buffer)


def read_packed(path: str | Path, shown_as: str | None = None) -> PackedWeights:
    """A `.sgw` file, checked in full: header, layout, checksum and finite floats. Anything else
    is a BadFileError naming the file (as `shown_as`, e.g. its place in a run directory when it
    was copied elsewhere to be read) and what was wrong."""
    source = str(path) if shown_as is None else shown_as
    data = read_user_file(path, "weights file")
    try:
        return _parse(data, source)
    except ValueError as error:
        raise BadFileError(f"weights file {source!r}: {error}") from None


def _parse(data: bytes, source: str) -> PackedWeights:
    magic, start = data[:len(MAGIC)], len(MAGIC) + _LENGTH_BYTES
    if magic not in (MAGIC, MAGIC_V1):
        raise ValueError(f"not a seqgan weights file (expected it to start with {MAGIC!r})")
    if len(data) < start:
        raise ValueError(f"truncated: {len(data)} bytes, shorter than the {start}-byte start of the format")
    length = int.from_bytes(data[len(MAGIC):start], "little")
    if length > len(data) - start:
        raise ValueError(f"corrupt header length {length}: only {len(data) - start} bytes follow it "
                         "(a truncated or damaged file)")
    checked = magic == MAGIC
    buffer_size = len(data) - start - length
    try:
        header = decode_header(data[start:start + length])
        check_header(header, buffer_size, checked)
    except ValueError as error:
        raise ValueError(f"corrupt header ({error})") from None
    buffer = np.frombuffer(data, dtype=np.uint8, offset=start + length).copy()
    if checked:
        _verify_checksum(header, buffer)
    _require_finite(header, buffer)
    return PackedWeights(data[start:start + length], buffer, source)


def decode_header(header: bytes) -> dict:
    """msgpack -> the header map; bytes that are not msgpack are a ValueError saying so."""
    try:
        return msgpack.unpackb(header)
    except Exception as error:  # msgpack raises several types for malformed input
        raise ValueError(f"not msgpack ({type(error).__name__}: {short(error)})") from None


def check_header(header: object, buffer_size: int | None = None, checked: bool = True) -> None:
    """The header's layout, checked before any field is used: a damaged file is a clear error.
    With `buffer_size`, every tensor must lie inside the buffer (and, when `checked`, the header's
    nbytes must be the buffer's length); `checked` files (SEQGANW2) carry nbytes and checksum."""
    required = _HEADER_KEYS + (_CHECKED_KEYS if checked else ())
    if not isinstance(header, dict) or not set(required) <= set(header):
        raise ValueError(f"expected a map with {', '.join(required[:-1])} and {required[-1]}")
    if not isinstance(header["model"], str) or not _is_count(header["version"]):
        raise ValueError(f"model {short(header['model'])} / version {short(header['version'])}: "
                         "expected a name and an integer >= 0")
    if not isinstance(header["meta"], dict) or not isinstance(header["tensors"], list):
        raise ValueError("meta must be a map and tensors a list")
    if checked:
        _check_totals(header, buffer_size)
    for entry in header["tensors"]:
        _check_entry(entry, buffer_size)
    _check_no_overlap(header["tensors"])


def _check_totals(header: dict, buffer_size: int | None) -> None:
    nbytes, checksum = header["nbytes"], header["checksum"]
    if not _is_count(nbytes) or not (_is_count(checksum) and checksum < 2**32):
        raise ValueError(f"nbytes {short(nbytes)} / checksum {short(checksum)}: expected integers >= 0 "
                         "(the checksum a 32-bit CRC)")
    if buffer_size is not None and nbytes != buffer_size:
        raise ValueError(f"the header says {nbytes} bytes of weights, the file holds {buffer_size}: "
                         "it was truncated or has bytes added")


def _check_entry(entry: object, buffer_size: int | None) -> None:
    if not isinstance(entry, dict) or not set(_ENTRY_KEYS) <= set(entry):
        raise ValueError(f"tensor entry {short(entry)}: expected name, dtype, shape, offset and nbytes")
    name, dtype, shape, offset = entry["name"], entry["dtype"], entry["shape"], entry["offset"]
    if not isinstance(name, str):
        raise ValueError(f"tensor name {short(name)}: expected a string")
    where = f"tensor {short(name)}"
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ValueError(f"{where}: unsupported dtype {short(dtype)}, expected one of {sorted(_DTYPES)}")
    if (not isinstance(shape, list) or len(shape) > _MAX_NDIM or not all(_is_count(n) for n in shape)
            or math.prod(max(n, 1) for n in shape) >= _MAX_ELEMENTS):
        raise ValueError(f"{where}: shape {short(shape)}, expected a list of at most {_MAX_NDIM} sizes >= 0 "
                         f"with fewer than 2^62 elements")
    if not _is_count(offset) or offset % ALIGN:
        raise ValueError(f"{where}: offset {short(offset)}, expected an integer >= 0, a multiple of {ALIGN}")
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if entry["nbytes"] != expected or not _is_count(entry["nbytes"]):
        raise ValueError(f"{where}: {short(entry['nbytes'])} bytes, but shape {shape} of {dtype} needs {expected}")
    if buffer_size is not None and offset + expected > buffer_size:
        raise ValueError(f"{where} ends at byte {offset + expected}, past the buffer ({buffer_size} bytes)")


def _check_no_overlap(entries: list[dict]) -> None:
    names = [entry["name"] for entry in entries]
    if len(set(names)) != len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"tensor {short(repeated)} appears twice, expected unique names")
    spans = sorted((e["offset"], e["offset"] + e["nbytes"], e["name"]) for e in entries if e["nbytes"])
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise ValueError(f"tensors {short(first)} and {short(second)} overlap (bytes {start} to {end}), "
                             "expected each tensor in its own bytes")


def _verify_checksum(header: dict, buffer: np.ndarray) -> None:
    fields = {key: value for key, value in header.items() if key != "checksum"}
    actual = _checksum(fields, buffer)
    if actual != header["checksum"]:
        raise ValueError(f"damaged: the checksum of its content is {actual:#010x}, the header says "
                         f"{header['checksum']:#010x} (the file changed after it was written)")


def _require_finite(header: dict, buffer: np.ndarray) -> None:
    for entry in header["tensors"]:
        if entry["dtype"] in _FLOAT_DTYPES and not np.isfinite(_view(buffer, entry)).all():
            raise ValueError(f"tensor {short(entry['name'])} holds NaN or infinite values, expected finite weights")


def _is_count(value: object) -> bool:
    """An integer >= 0 (msgpack's true/false decode to bools, which are ints in Python)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0

