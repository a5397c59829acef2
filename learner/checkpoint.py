"""Run-directory checkpoints, written atomically and loaded without executing code.

RUN_DIR/checkpoints/step-NNNNNNNN/ holds one `.sgw` per model (see seqgan.packing), the optimizer
states (`optimizers.pt`, read back with torch's weights-only loader) and `progress.json`.
RUN_DIR/checkpoints/latest names the newest complete one and is replaced atomically after it is
fully written, so a kill mid-write never leaves a half checkpoint behind `latest`.
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import torch

from seqgan.config import Config, load_config
from seqgan.models import Generator, build_generator
from seqgan.packing import atomic_write_bytes, load_into, read_packed, write_packed

KEEP = 2  # complete checkpoints kept on disk


def _root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: str | Path, state: dict, progress: dict) -> Path:
    root = _root(run_dir)
    target = root / f"step-{progress['step']:08d}"
    if target.exists():
        shutil.rmtree(target)  # an earlier, unreferenced partial write of the same step
    target.mkdir(parents=True)
    for name, packed in state["models"].items():
        write_packed(target / f"{name}.sgw", packed)
    buffer = io.BytesIO()
    torch.save(state["optimizers"], buffer)
    atomic_write_bytes(target / "optimizers.pt", [buffer.getvalue()])
    atomic_write_bytes(target / "progress.json", [json.dumps({**progress, "versions": state["versions"]}).encode()])
    atomic_write_bytes(root / "latest", [target.name.encode()])
    for old in sorted(p for p in root.glob("step-*") if p.name != target.name)[:-(KEEP - 1) or None]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def latest_checkpoint(run_dir: str | Path) -> Path:
    pointer = _root(run_dir) / "latest"
    if not pointer.is_file():
        raise FileNotFoundError(f"no checkpoint in run directory {str(run_dir)!r} (missing {pointer})")
    return _root(run_dir) / pointer.read_text().strip()


def load_checkpoint(run_dir: str | Path) -> tuple[dict, dict]:
    """(learner state, progress) of the newest complete checkpoint."""
    path = latest_checkpoint(run_dir)
    progress = json.loads((path / "progress.json").read_text())
    models = {p.stem: read_packed(p) for p in sorted(path.glob("*.sgw"))}
    optimizers = torch.load(path / "optimizers.pt", weights_only=True, map_location="cpu")
    return {"models": models, "optimizers": optimizers, "versions": progress.pop("versions")}, progress


def run_config(run_dir: str | Path) -> Config:
    return load_config(Path(run_dir) / "config.yaml")


def load_generator(run_dir: str | Path) -> Generator:
    """The trained generator of a run (its config snapshot and newest checkpoint)."""
    config = run_config(run_dir)
    generator = build_generator(config.model, config.generator)
    load_into(generator, read_packed(latest_checkpoint(run_dir) / "generator.sgw"))
    return generator.eval()
