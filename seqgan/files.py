"""General file I/O for user files and run outputs: reading a user's file safely (never a FIFO or a
device), text files, and atomic, durable writes (temporary file, fsync, rename, fsync the folder)."""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from seqgan.errors import BadFileError


FULL = (errno.ENOSPC, errno.EDQUOT)  # a disk or a quota that is full


def short(value: object, limit: int = 80) -> str:
    """repr() cut short: a file may hold huge values."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def read_user_file(path: str | Path, what: str) -> bytes:
    """The bytes of a user's file (`what` names its role in messages). Anything but a readable
    regular file is a BadFileError that says what the path is; a FIFO or device is never read
    (that could block forever)."""
    path = Path(path)
    shown = f"{what} {str(path)!r}"
    _require_regular(_mode(path, shown), shown)
    try:  # non-blocking open: a FIFO swapped in after stat() cannot hang the open itself
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read() if stat.S_ISREG(mode) else b""
    except OSError as error:
        raise _unreadable(shown, error) from None
    _require_regular(mode, shown)
    return data


def _mode(path: Path, shown: str) -> int:
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        raise _unreadable(shown, error) from None


def _unreadable(shown: str, error: Exception) -> BadFileError:
    if isinstance(error, FileNotFoundError):
        return BadFileError(f"{shown} does not exist")
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return BadFileError(f"{shown} cannot be read: {reason}")


def _require_regular(mode: int, shown: str) -> None:
    if stat.S_ISDIR(mode):
        raise BadFileError(f"{shown} is a folder, expected a file")
    if not stat.S_ISREG(mode):
        raise BadFileError(f"{shown} is not a regular file (a FIFO, socket or device), expected a file")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `path`, fsync the folder:
    a reader (or a crash) sees the old file or the new one, never half of one. `chunks` may be a
    generator, so a large file need not be in memory at once."""
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
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.errno in FULL:  # the bare errno names no file: say which write did not fit
            raise OSError(error.errno, f"no space left to write {str(path)!r} ({os.strerror(error.errno)}); "
                                       "the file was left as it was") from None
        raise
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


def read_text(path: str | Path, what: str) -> str:
    """A text file's contents (`what` says what it is). A path that is not a readable regular file,
    or a file that is not UTF-8, is a BadFileError naming it; a leading byte-order mark is dropped."""
    data = read_user_file(path, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadFileError(f"{what} {str(path)!r} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def text_lines(text: str) -> list[str]:
    """Lines split at \\n only (str.splitlines also splits at form feeds and U+2028, which would
    shift line numbers and vocabulary entries); a \\r before the \\n is dropped."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
