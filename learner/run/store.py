"""Where a run's outputs live: a folder on this machine, or a URI (`file://`, `s3://`, `gs://`, ...)
through pyarrow.fs, the filesystem layer Ray's own libraries use.

The driver is the run's only writer: the learner hands its state back through the object store,
so metrics, checkpoints and the summary land in one place whatever node the learner runs on.
Every write replaces a whole file, so a reader (or a crash) sees the old file or the new one.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from seqgan.files import atomic_write_bytes

JOB_ENV_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray's job supervisor for a job's entrypoint


def is_uri(location: str) -> bool:
    return "://" in location


def under_ray_job() -> bool:
    return JOB_ENV_VAR in os.environ


def check_location(location: str) -> None:
    """Under a Ray job the working directory is a temporary copy that Ray deletes after the job:
    a relative run directory there would be lost without a word."""
    if under_ray_job() and not is_uri(location) and not os.path.isabs(location):
        raise ValueError(f"run directory {location!r} is a relative path, and this is a Ray job: its working "
                         "directory is a temporary copy that Ray deletes when the job ends. Pass an absolute path "
                         "on storage every node shares, or a URI (s3://..., gs://..., file://...)")


class RunStore:
    """A run directory. `local` is its folder when it is on this machine's filesystem, else None
    (then files go through pyarrow.fs). `guard`, when set, is called before every write (an owner
    lease that may have been lost, learner/run/owner.py)."""

    def __init__(self, location: str | Path):
        self.location = str(location)
        self.guard = None
        if is_uri(self.location):
            self.local, (self.fs, self.root) = None, _from_uri(self.location)
        else:
            self.local, self.fs, self.root = Path(self.location), None, ""

    def __str__(self) -> str:
        return self.location if self.local is None else str(self.local.resolve())

    def _path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}" if name else self.root

    def _info(self, name: str):
        return self.fs.get_file_info(self._path(name))

    # -- reading ---------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        if self.local is not None:
            return (self.local / name).exists()
        import pyarrow.fs
        return self._info(name).type != pyarrow.fs.FileType.NotFound

    def is_file(self, name: str) -> bool:
        if self.local is not None:
            return (self.local / name).is_file()
        import pyarrow.fs
        return self._info(name).type == pyarrow.fs.FileType.File

    def read_bytes(self, name: str) -> bytes:
        if self.local is not None:
            return (self.local / name).read_bytes()
        if not self.is_file(name):
            raise FileNotFoundError(f"{self.location}/{name} does not exist")
        with self.fs.open_input_stream(self._path(name)) as stream:
            return stream.read()

    def read_text(self, name: str) -> str:
        data = self.read_bytes(name)
        try:
            return data.decode()
        except UnicodeDecodeError as error:
            raise ValueError(f"{self.location}/{name} is not UTF-8 text ({error.reason} at byte {error.start})") \
                from None

    def folders(self, name: str) -> list[str]:
        """Names of the sub-folders of `name` (empty when it does not exist)."""
        if self.local is not None:
            folder = self.local / name
            return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        import pyarrow.fs
        selector = pyarrow.fs.FileSelector(self._path(name), allow_not_found=True)
        return sorted(i.base_name for i in self.fs.get_file_info(selector) if i.type == pyarrow.fs.FileType.Directory)

    def entries(self, name: str) -> dict[str, bool]:
        """What the folder `name` holds: entry name -> whether it is a plain file (not a folder or link)."""
        if self.local is not None:
            folder = self.local / name
            return {p.name: p.is_file() and not p.is_symlink() for p in folder.iterdir()} if folder.is_dir() else {}
        import pyarrow.fs
        selector = pyarrow.fs.FileSelector(self._path(name), allow_not_found=True)
        return {i.base_name: i.type == pyarrow.fs.FileType.File for i in self.fs.get_file_info(selector)}

    def download(self, name: str, into: Path) -> Path:
        """A local copy of the folder `name` (itself, when the run is local)."""
        if self.local is not None:
            return self.local / name
        import pyarrow.fs
        selector = pyarrow.fs.FileSelector(self._path(name), allow_not_found=True)
        for info in self.fs.get_file_info(selector):
            if info.type == pyarrow.fs.FileType.File:
                (into / info.base_name).write_bytes(self.read_bytes(f"{name}/{info.base_name}"))
        return into

    # -- writing ---------------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes | list[bytes | memoryview]) -> None:
        chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
        if self.guard is not None:
            self.guard()
        if self.local is not None:
            atomic_write_bytes(self.local / name, chunks)
            return
        path = self._path(name)
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        # Object stores replace an object whole on close; a local filesystem needs a rename.
        target = f"{path}.tmp" if self.fs.type_name == "local" else path
        with self.fs.open_output_stream(target) as stream:
            for chunk in chunks:
                stream.write(chunk)
        if target != path:
            self.fs.move(target, path)

    def upload(self, folder: Path, name: str) -> None:
        """Copy the files of a local folder to the folder `name` of the run."""
        for path in sorted(folder.iterdir()):
            if path.is_file():
                self.write_bytes(f"{name}/{path.name}", path.read_bytes())

    def remove_folder(self, name: str) -> None:
        if self.local is not None:
            shutil.rmtree(self.local / name, ignore_errors=True)
        elif self.exists(name):
            self.fs.delete_dir(self._path(name))

    def remove_file(self, name: str) -> None:
        if self.local is not None:
            (self.local / name).unlink(missing_ok=True)
        elif self.is_file(name):
            self.fs.delete_file(self._path(name))

    def move_folder(self, name: str, to: str) -> None:
        """Rename the folder `name` to `to` (file by file on an object store, which has no folders)."""
        if self.local is not None:
            (self.local / to).parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.local / name, self.local / to)
            return
        self.fs.create_dir(self._path(to), recursive=True)
        for entry in self.entries(name):
            self.fs.move(self._path(f"{name}/{entry}"), self._path(f"{to}/{entry}"))
        self.fs.delete_dir(self._path(name))

    def make(self) -> None:
        if self.local is not None:
            self.local.mkdir(parents=True, exist_ok=True)
        else:
            self.fs.create_dir(self.root, recursive=True)


def _from_uri(location: str):
    try:
        import pyarrow.fs
    except ImportError:
        raise ValueError(f"run directory {location!r} is a URI, which needs pyarrow: pip install pyarrow") from None
    try:
        return pyarrow.fs.FileSystem.from_uri(location)
    except Exception as error:  # pyarrow raises ArrowInvalid / OSError for unknown schemes and bad URIs
        raise ValueError(f"run directory {location!r}: {error}") from None


def staging_folder() -> tempfile.TemporaryDirectory:
    """A local folder for files on their way to or from a remote run directory."""
    return tempfile.TemporaryDirectory(prefix="seqgan-")


def run_name(location: str) -> str:
    """The run directory's own name, for a path or a URI."""
    if is_uri(location):
        return location.rstrip("/").rsplit("/", 1)[-1]
    return Path(location).resolve().name


def run_labels(locations: list[str]) -> list[str]:
    """Directory names, or the locations themselves when two runs share a name."""
    names = [run_name(location) for location in locations]
    return names if len(set(names)) == len(names) else list(locations)


def require_run_folder(location: str) -> None:
    """A local run directory must be a folder or not exist yet: a file, FIFO, device (/dev/null)
    or a symbolic link to nothing is named for what it is, before anything is written."""
    if is_uri(location):
        return
    path = Path(location)
    if path.is_symlink() and not path.exists():
        raise FileExistsError(f"run directory {location!r} is a symbolic link to {os.readlink(path)!r}, which does "
                              "not exist: give a new folder, or make the link's target first")
    if path.exists() and not path.is_dir():
        kind = "a file" if path.is_file() else "not a folder (a FIFO, socket or device)"
        raise FileExistsError(f"run directory {location!r} is {kind}: give a folder that does not exist yet "
                              "(nothing was written)")
