"""Run-directory checkpoints, written by the driver and loaded without executing code.

RUN_DIR/checkpoints/step-NNNNNNNN/ (N = steps done) holds one `.sgw` per model (see seqgan.packing),
the optimizer states (`optimizers.pt`) and RNG states (`rng.pt`), both read back with torch's
weights-only loader, and `progress.json` (steps done, records kept, weight versions, the record of
the step being checkpointed). RUN_DIR/checkpoints/latest names the newest complete one and is
replaced only after it is fully written, so a kill mid-write never leaves a half checkpoint behind
`latest`. On a URI run directory the checkpoint is written in a local folder and uploaded.
"""
from __future__ import annotations

import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

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
MODELS = ("generator", "rollout", "discriminator")


@dataclass
class Checkpoint:
    name: str
    state: dict  # the learner's: packed models, optimizer and RNG states, versions
    progress: dict  # steps_done, records, pending, wall_s


def checkpoint_name(steps_done: int) -> str:
    return f"step-{steps_done:08d}"


def save_checkpoint(run: RunStore, state: dict, progress: dict) -> str:
    name = checkpoint_name(progress["steps_done"])
    if run.local is not None:
        folder = run.local / ROOT / name
        if folder.exists():
            shutil.rmtree(folder)  # an unreferenced partial write of the same step (a killed run)
        _write_folder(folder, state, progress)
    else:
        with staging_folder() as staging:
            _write_folder(Path(staging), state, progress)
            run.upload(Path(staging), f"{ROOT}/{name}")
    run.write_bytes(f"{ROOT}/latest", name.encode())
    _remove_old(run, name)
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


def _remove_old(run: RunStore, newest: str) -> None:
    """Keep `newest` and the KEEP-1 complete ones before it; folders after it are partial writes of
    a killed run (their steps are redone)."""
    older = [n for n in run.folders(ROOT) if NAME.fullmatch(n) and n < newest]
    newer = [n for n in run.folders(ROOT) if NAME.fullmatch(n) and n > newest]
    for name in older[:len(older) - (KEEP - 1)] + newer:
        run.remove_folder(f"{ROOT}/{name}")


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


def load_generator(location: str | Path) -> Generator:
    """The trained generator of a run (its config snapshot and newest checkpoint)."""
    run = RunStore(location)
    config = run_config(run)
    generator = build_generator(config.model, config.generator)
    checkpoint = load_checkpoint(run)
    packed = checkpoint.state["models"]["generator"]
    if packed.model != "generator":  # an oracle's weights fit the same class: the file says which it is
        raise BadFileError(f"checkpoint {str(run)}/{ROOT}/{checkpoint.name}/generator.sgw holds "
                           f"{short(packed.model)} weights, expected the run's generator")
    load_into(generator, packed)
    return generator.eval()
