"""Run-directory checkpoints, written by the driver and loaded without executing code.

RUN_DIR/checkpoints/step-NNNNNNNN/ (N = steps done) holds one `.sgw` per model (see seqgan.packing),
the optimizer states (`optimizers.pt`) and RNG states (`rng.pt`), both read back with torch's
weights-only loader, and `progress.json` (steps done, records kept, weight versions, the record of
the step being checkpointed). RUN_DIR/checkpoints/latest names the newest complete one and is
replaced only after it is fully written, so a kill mid-write never leaves a half checkpoint behind
`latest`. On a URI run directory the checkpoint is written in a local folder and uploaded.

Each folder's `manifest.json` (learner/run/manifest.py), written last, holds the sha256 of its files
and of the run's config.yaml: a resume checks them before reading anything. Cleanup deletes only
older folders the manifest proves this run wrote; a folder cut short by a kill is moved to
checkpoints/incomplete/, and anything else (a user's files, another run's) is left as it is.
"""
from __future__ import annotations

import datetime
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from actors.sync import GENERATOR, MODELS
from learner.run.manifest import CONFIG, MANIFEST, complete, foreign, manifest_bytes, parse_manifest, verify
from learner.run.store import RunStore, staging_folder
from seqgan.config import Config
from seqgan.config_files import load_config
from seqgan.errors import BadFileError
from seqgan.models import Generator, build_generator
from seqgan.files import atomic_write_bytes, short
from seqgan.packing import load_into, read_packed, write_packed

KEEP = 2  # complete checkpoints kept
ROOT = "checkpoints"
NAME = re.compile(r"step-\d{8}")
STATES = ("optimizers.pt", "rng.pt", "progress.json")
INCOMPLETE = "incomplete"  # checkpoints/incomplete/step-N-TIME: folders cut short by a kill, set aside


@dataclass
class Checkpoint:
    name: str
    state: dict  # the learner's: packed models, optimizer and RNG states, versions
    progress: dict  # steps_done, records, pending, wall_s


def checkpoint_name(steps_done: int) -> str:
    return f"step-{steps_done:08d}"


def checkpoint_files() -> list[str]:
    """The files of a checkpoint folder besides its manifest."""
    return [f"{m}.sgw" for m in MODELS] + list(STATES)


def run_config_bytes(run: RunStore) -> bytes | None:
    return run.read_bytes(CONFIG) if run.is_file(CONFIG) else None


def save_checkpoint(run: RunStore, state: dict, progress: dict) -> str:
    name = checkpoint_name(progress["steps_done"])
    config = run_config_bytes(run)
    set_aside(run, name, config)  # a killed run's unreferenced write of the same step
    if run.local is not None:
        _write_folder(run.local / ROOT / name, state, progress)
        manifest = manifest_bytes(run.local / ROOT / name, checkpoint_files(), config)
    else:
        with staging_folder() as staging:
            _write_folder(Path(staging), state, progress)
            run.upload(Path(staging), f"{ROOT}/{name}")
            manifest = manifest_bytes(Path(staging), checkpoint_files(), config)
    run.write_bytes(f"{ROOT}/{name}/{MANIFEST}", manifest)  # last: the folder is complete
    run.write_bytes(f"{ROOT}/latest", name.encode())
    _remove_old(run, name, config)
    return name


def _write_folder(folder: Path, state: dict, progress: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, packed in state["models"].items():
        write_packed(folder / f"{name}.sgw", packed)
    for name in ("optimizers", "rng"):
        buffer = io.BytesIO()
        torch.save(state[name], buffer)
        atomic_write_bytes(folder / f"{name}.pt", [buffer.getvalue()])
    record = {**progress, "versions": state["versions"]}
    atomic_write_bytes(folder / "progress.json", [json.dumps(record, indent=1).encode()])


def _manifest(run: RunStore, name: str) -> dict | None:
    path = f"{ROOT}/{name}/{MANIFEST}"
    return parse_manifest(run.read_bytes(path)) if run.is_file(path) else None


def strays(run: RunStore, name: str, config: bytes | None) -> list[str]:
    """What in checkpoints/`name` this run did not write (empty: all of it is ours)."""
    return foreign(run.entries(f"{ROOT}/{name}"), checkpoint_files(), _manifest(run, name), config)


def set_aside(run: RunStore, name: str, config: bytes | None) -> None:
    """Move checkpoints/`name`, a folder of this run that `latest` does not name, to incomplete/;
    one holding anything else is refused, untouched."""
    if not run.exists(f"{ROOT}/{name}"):
        return
    found = strays(run, name, config)
    if found:
        raise _in_the_way(run, name, found)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    run.move_folder(f"{ROOT}/{name}", f"{ROOT}/{INCOMPLETE}/{name}-{stamp}")


def _in_the_way(run: RunStore, name: str, found: list[str]) -> FileExistsError:
    return FileExistsError(f"{str(run)}/{ROOT}/{name} holds what this run did not write ({', '.join(found)}), and "
                           f"the run needs that folder for its {name} checkpoint: move the folder elsewhere "
                           "(nothing in it was touched), then continue with --resume")


def check_ahead(run: RunStore, latest: str) -> None:
    """Before a resume: every folder past `latest` is one the run may set aside when it redoes that
    step (else the error names it now, before any step is redone)."""
    config = run_config_bytes(run)
    for name in run.folders(ROOT):
        found = strays(run, name, config) if NAME.fullmatch(name) and name > latest else []
        if found:
            raise _in_the_way(run, name, found)


def _remove_old(run: RunStore, newest: str, config: bytes | None) -> None:
    """Keep `newest` and the KEEP-1 complete ones before it, deleting older ones only when their
    manifest proves them this run's; set aside the folders past it (partial writes of a killed run,
    whose steps are redone)."""
    names = [n for n in run.folders(ROOT) if NAME.fullmatch(n)]
    older = [n for n in names if n < newest]
    for name in older[:len(older) - (KEEP - 1)]:
        entries, manifest = run.entries(f"{ROOT}/{name}"), _manifest(run, name)
        if complete(entries, manifest) and not foreign(entries, checkpoint_files(), manifest, config):
            run.remove_folder(f"{ROOT}/{name}")
    for name in (n for n in names if n > newest):
        if not strays(run, name, config):
            set_aside(run, name, config)


def has_checkpoint(run: RunStore) -> bool:
    return run.is_file(f"{ROOT}/latest")


def latest_name(run: RunStore) -> str:
    if not has_checkpoint(run):
        raise FileNotFoundError(f"no checkpoint in run directory {str(run)!r} (no {ROOT}/latest)")
    name = run.read_text(f"{ROOT}/latest").strip()
    if not NAME.fullmatch(name):
        raise ValueError(f"run directory {str(run)!r}: {ROOT}/latest holds {name[:40]!r}, expected step-NNNNNNNN")
    return name


def load_checkpoint(run: RunStore, name: str | None = None) -> Checkpoint:
    """The newest complete checkpoint (or the one named); anything damaged is an error naming the file."""
    name = name or latest_name(run)
    with staging_folder() as staging:
        folder = run.download(f"{ROOT}/{name}", Path(staging))
        where = f"checkpoint {str(run)}/{ROOT}/{name}"
        verify(folder, checkpoint_files(), run_config_bytes(run), where)  # before anything is read
        try:
            progress = json.loads((folder / "progress.json").read_text())
            _check_progress(progress)
            models = {m: read_packed(folder / f"{m}.sgw") for m in MODELS}
            optimizers = torch.load(folder / "optimizers.pt", weights_only=True, map_location="cpu")
            rng = torch.load(folder / "rng.pt", weights_only=True, map_location="cpu")
        except Exception as error:  # a reader boundary: torch.load and json raise many kinds on bad bytes
            raise BadFileError(f"{where} is damaged: {type(error).__name__}: {str(error)[:300]}") from None
    return Checkpoint(name, {"models": models, "optimizers": optimizers, "rng": rng,
                             "versions": progress.pop("versions")}, progress)


def _check_progress(progress) -> None:
    counts = isinstance(progress, dict) and all(
        type(progress.get(k)) is int and progress[k] >= 0 for k in ("steps_done", "records"))
    versions = counts and isinstance(progress.get("versions"), dict) and \
        sorted(progress["versions"]) == sorted(MODELS) and all(type(v) is int for v in progress["versions"].values())
    pending = versions and (progress.get("pending") is None or (
        isinstance(progress["pending"], dict) and isinstance(progress["pending"].get("phase"), str)
        and type(progress["pending"].get("step")) is int))
    wall = pending and isinstance(progress.get("wall_s", 0.0), (int, float))
    if not wall:
        raise ValueError("progress.json: expected steps_done and records (integers >= 0), the versions of "
                         f"{', '.join(MODELS)}, the pending record (phase and step) and wall_s")


def run_config(run: RunStore) -> Config:
    """The config snapshot a run was made with."""
    if not run.is_file("config.yaml"):
        raise FileNotFoundError(f"{str(run)!r} holds no run (no config.yaml)")
    if run.local is not None:
        return load_config(run.local / "config.yaml")
    with staging_folder() as staging:
        copy = Path(staging) / "config.yaml"
        copy.write_bytes(run.read_bytes("config.yaml"))
        return load_config(copy)


def load_generator(location: str | Path, checkpoint: str | None = None) -> Generator:
    """The trained generator of a run (its config snapshot and newest checkpoint, or the one named)."""
    run = RunStore(location)
    config = run_config(run)
    generator = build_generator(config.model, config.generator)
    packed = load_checkpoint(run, checkpoint).state["models"][GENERATOR]
    if packed.model != GENERATOR:  # an oracle's weights fit the same class: the file says which it is
        raise BadFileError(f"checkpoint {str(run)}/{ROOT}/{checkpoint or latest_name(run)}/generator.sgw holds "
                           f"{short(packed.model)} weights, expected the run's generator")
    load_into(generator, packed)
    return generator.eval()


def kept_checkpoints(run: RunStore) -> dict[str, dict]:
    """{checkpoint name: its progress.json} of the checkpoints still in the run directory (KEEP of them);
    a checkpoint's `pending` names the step (phase, step) it was taken after."""
    kept = {}
    for name in run.folders(ROOT):
        if NAME.fullmatch(name) and run.is_file(f"{ROOT}/{name}/progress.json"):
            kept[name] = json.loads(run.read_text(f"{ROOT}/{name}/progress.json"))
    return kept
