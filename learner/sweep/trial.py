"""One sweep point, run as `seqgan train` runs it: a new run in its run directory, or, when that run
already has a checkpoint (a retried trial, a resumed sweep), `seqgan train --resume` from it. Every
record also goes to `report` (Tune's, in a trial), after it is written to the run directory."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from learner.commands.train import resumed_config, train_run, watchers
from learner.run.checkpoint import check_ahead, has_checkpoint, load_checkpoint, run_config
from learner.run.owner import own_run
from learner.run.store import RunStore
from seqgan.config_files import load_config


class Reporter:
    """A run-log watcher that hands each new record on."""

    def __init__(self, report):
        self.report = report

    def record(self, record: dict) -> None:
        self.report(dict(record))

    def close(self) -> None:
        pass


def reporting(watch, report):
    """watch(kept) -> the run's usual watchers plus a Reporter (kept records were reported before)."""
    return lambda kept: [*watch(kept), Reporter(report)]


def open_point(run: RunStore, config_text: str):
    """(config, checkpoint or None): a resumed run must have been made with this same config."""
    location = str(run)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(config_text)
        if has_checkpoint(run):
            checkpoint = load_checkpoint(run)  # checked against its manifest
            check_ahead(run, checkpoint.name)
            return resumed_config(run_config(run), str(path), [], location), checkpoint
        return load_config(path), None


def run_point(location: str, config_text: str, report) -> dict | None:
    """Trains the point to its end; None when its run had already finished (nothing is touched)."""
    if RunStore(location).exists("summary.json"):
        print(f"seqgan: {location} has finished already", file=sys.stderr, flush=True)
        return None
    run = RunStore(location)
    with own_run(run):  # one writer, as `seqgan train`
        config, checkpoint = open_point(run, config_text)
        print(f"seqgan: run directory {run}" + (f", resumed from {checkpoint.name}" if checkpoint else ""),
              file=sys.stderr, flush=True)
        return train_run(config, run, checkpoint, None, reporting(watchers(config, run), report))
