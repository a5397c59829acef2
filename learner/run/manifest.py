"""A checkpoint's manifest: the sha256 of every file a resume reads, written last in its folder.

`manifest.json` holds {"files": {name: sha256}, "config_sha256": sha256 of the run's config.yaml or
null}. It does two jobs: a resume checks every file against it before reading any (a flipped bit or
an edited config.yaml is an error naming the file, not a different run), and cleanup removes only
folders it proves this run wrote: its files and nothing else, made with this config.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from seqgan.errors import BadFileError

MANIFEST = "manifest.json"
CONFIG = "config.yaml"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(folder: Path, files: list[str], config: bytes | None) -> bytes:
    """The manifest of `files` in `folder`, and of the run's config.yaml bytes (None: the run has none)."""
    return json.dumps({"files": {name: sha256((folder / name).read_bytes()) for name in files},
                       "config_sha256": None if config is None else sha256(config)}, indent=1).encode()


def parse_manifest(data: bytes) -> dict | None:
    """The manifest, or None when `data` is not one."""
    try:
        manifest = json.loads(data)
    except ValueError:
        return None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())
            and isinstance(manifest.get("config_sha256", ""), (str, type(None))) and "config_sha256" in manifest):
        return None
    return manifest


def verify(folder: Path, files: list[str], config: bytes | None, where: str) -> None:
    """Every one of `files` in `folder` and the run's config.yaml as the manifest recorded them; else
    a BadFileError naming the file that differs."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BadFileError(f"{where} is damaged: it has no {MANIFEST} (the checksums written last with every "
                           "checkpoint): it is incomplete or was not written by seqgan")
    manifest = parse_manifest(path.read_bytes())
    if manifest is None:
        raise BadFileError(f"{where} is damaged: its {MANIFEST} is not one: expected files (name -> sha256) "
                           "and config_sha256")
    if sorted(manifest["files"]) != sorted(files):
        raise BadFileError(f"{where} is damaged: its {MANIFEST} lists {', '.join(sorted(manifest['files']))}; "
                           f"expected {', '.join(sorted(files))}")
    for name in files:
        if not (folder / name).is_file() or sha256((folder / name).read_bytes()) != manifest["files"][name]:
            raise BadFileError(f"{where} is damaged: {name} does not match its sha256 in {MANIFEST} (it changed "
                               "after the checkpoint was written); the run cannot resume from it")
    recorded, present = manifest["config_sha256"], None if config is None else sha256(config)
    if recorded != present:
        raise BadFileError(f"{where}: the run's {CONFIG} is not the one this checkpoint was written with (its sha256 "
                           f"is in {MANIFEST}): it was edited or replaced since, and a resumed run keeps its config. "
                           "Put the original back, or start a new run with --out")


def foreign(entries: dict[str, bool], files: list[str], manifest: dict | None, config: bytes | None) -> list[str]:
    """What makes a checkpoint folder not provably this run's: its entries (name -> plain file) that
    are not files a checkpoint writes (or their temporary copies), and a manifest made with
    another config. Empty: the folder is this run's, complete or cut short."""
    ours = set(files) | {MANIFEST}
    stray = sorted(name for name, plain in entries.items()
                   if not plain or not (name in ours or _temporary_copy(name, ours)))
    if manifest is not None and manifest["config_sha256"] != (None if config is None else sha256(config)):
        stray.append(f"{MANIFEST} of another config")
    return stray


def _temporary_copy(name: str, ours: set[str]) -> bool:
    """seqgan.files.atomic_write_bytes writes `.NAME.XXXX.tmp`; an object-store upload `NAME.tmp`."""
    if not name.endswith(".tmp"):
        return False
    stem = name[:-len(".tmp")]
    return stem in ours or (stem.startswith(".") and stem[1:].rsplit(".", 1)[0] in ours)


def complete(entries: dict[str, bool], manifest: dict | None) -> bool:
    """A folder holding exactly the files its manifest lists, and the manifest."""
    return manifest is not None and all(entries.values()) and set(entries) == set(manifest["files"]) | {MANIFEST}
