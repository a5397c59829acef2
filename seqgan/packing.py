"""Weights as one flat byte buffer plus a small msgpack header.

The same packing broadcasts weights through the object store (one buffer per model version)
and stores models on disk (`.sgw` files), so no file of ours is ever unpickled.

File layout (`.sgw`): MAGIC, then the header length as 8 bytes little-endian, the msgpack
header, then the buffer. Header: {model, version, meta, tensors: [{name, dtype, shape,
offset, nbytes}]}; offsets index the buffer (multiples of 64); dtypes are numpy names.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np
import torch

MAGIC = b"SEQGANW1"
ALIGN = 64  # every tensor starts at a multiple of 64 bytes: aligned zero-copy views
_DTYPES = {"float32", "float64", "float16", "int64", "int32", "uint8", "bool"}


@dataclass(frozen=True)
class PackedWeights:
    header: bytes  # msgpack
    buffer: np.ndarray  # uint8 [nbytes]

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
    """Named tensors -> one contiguous buffer (a single copy) and a header."""
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
    header = msgpack.packb({"model": model, "version": int(version), "meta": meta or {}, "tensors": entries})
    return PackedWeights(header, buffer)


def unpack_state(packed: PackedWeights, copy: bool = True) -> dict[str, torch.Tensor]:
    """Header + buffer -> named tensors. With copy=False they may be read-only views of the
    buffer (object-store buffers are read-only): only for callers that just read them."""
    meta = packed.meta
    buffer = packed.buffer
    state = {}
    for entry in meta["tensors"]:
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"tensor {entry['name']!r}: unsupported dtype {entry['dtype']!r}")
        end = entry["offset"] + entry["nbytes"]
        if end > buffer.size:
            raise ValueError(f"tensor {entry['name']!r} ends at byte {end}, past the buffer ({buffer.size} bytes)")
        array = buffer[entry["offset"]:end].view(np.dtype(entry["dtype"])).reshape(entry["shape"])
        if copy:
            array = array.copy()
        with warnings.catch_warnings():  # torch warns about read-only arrays; we only read them
            warnings.simplefilter("ignore", UserWarning)
            state[entry["name"]] = torch.from_numpy(array)
    return state


def load_into(module: torch.nn.Module, packed: PackedWeights) -> None:
    """Copy packed weights into a module, in place; names and shapes must match exactly."""
    state = unpack_state(packed, copy=False)  # copied once, into the module's own tensors
    own = module.state_dict()
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ValueError(f"weights for {packed.model!r} do not fit: missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for name, tensor in state.items():
            if tuple(tensor.shape) != tuple(own[name].shape):
                raise ValueError(f"{packed.model}.{name}: shape {tuple(tensor.shape)}, "
                                 f"expected {tuple(own[name].shape)}")
            own[name].copy_(tensor)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, chunks: list[bytes | memoryview]) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `path`, fsync the folder:
    a reader (or a crash) sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode a plain open() would
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); where folders cannot be opened, the rename stands alone."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_packed(path: str | Path, packed: PackedWeights) -> None:
    length = len(packed.header).to_bytes(8, "little")
    atomic_write_bytes(path, [MAGIC, length, packed.header, memoryview(packed.buffer)])


def read_packed(path: str | Path) -> PackedWeights:
    path = Path(path)
    if not path.is_file():
        found = "is a folder" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"weights file {str(path)!r} {found}: expected a .sgw file")
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{str(path)!r} is not a seqgan weights file (expected it to start with {MAGIC!r})")
    length = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    header = data[start:start + length]
    try:
        check_header(msgpack.unpackb(header))
    except Exception as error:
        raise ValueError(f"{str(path)!r}: corrupt header ({error})") from None
    buffer = np.frombuffer(data, dtype=np.uint8, offset=start + length).copy()
    return PackedWeights(header, buffer)


def check_header(header: object) -> None:
    """The header's layout, checked before any field is used: a damaged file is a clear error."""
    if not isinstance(header, dict) or not {"model", "version", "meta", "tensors"} <= set(header):
        raise ValueError("expected a map with model, version, meta and tensors")
    if not isinstance(header["model"], str) or not isinstance(header["version"], int):
        raise ValueError(f"model {header['model']!r} / version {header['version']!r}: expected a name and an integer")
    if not isinstance(header["meta"], dict) or not isinstance(header["tensors"], list):
        raise ValueError("meta must be a map and tensors a list")
    for entry in header["tensors"]:
        if not isinstance(entry, dict) or not {"name", "dtype", "shape", "offset", "nbytes"} <= set(entry):
            raise ValueError(f"tensor entry {entry!r}: expected name, dtype, shape, offset and nbytes")
        shape, dtype = entry["shape"], entry["dtype"]
        if dtype not in _DTYPES:
            raise ValueError(f"tensor {entry['name']!r}: unsupported dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ValueError(f"tensor {entry['name']!r}: shape {shape!r}, expected a list of sizes >= 0")
        if not isinstance(entry["offset"], int) or entry["offset"] < 0:
            raise ValueError(f"tensor {entry['name']!r}: offset {entry['offset']!r}, expected an integer >= 0")
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if entry["nbytes"] != expected:
            raise ValueError(f"tensor {entry['name']!r}: {entry['nbytes']!r} bytes, but shape {shape} of "
                             f"{dtype} needs {expected}")
