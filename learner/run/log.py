"""A run's metrics.jsonl: one JSON record a line, written by the driver only.

A resumed run first cuts the file back to the records its checkpoint covers, so steps redone
after the checkpoint are not logged twice and no record is lost. Watchers (progress on the
terminal, TensorBoard) see every record after it is written.
"""
from __future__ import annotations

import json
import math

from learner.run.checkpoint import Checkpoint
from learner.run.store import RunStore

METRICS = "metrics.jsonl"


class RunLog:
    def __init__(self, run: RunStore, kept: list[dict], watchers=()):
        self.run, self.records, self.watchers = run, list(kept), list(watchers)
        self.run.write_bytes(METRICS, "".join(json.dumps(r) + "\n" for r in self.records).encode())

    def __len__(self) -> int:
        return len(self.records)

    def write(self, record: dict) -> None:
        line = json.dumps(record, allow_nan=False) + "\n"  # strict JSON: a NaN is refused, never written
        self.records.append(record)
        if self.run.local is not None:
            with (self.run.local / METRICS).open("a") as f:  # one line, flushed: a kill leaves whole lines
                f.write(line)
        else:  # object stores have no append: the file is replaced whole (it stays small)
            self.run.write_bytes(METRICS, "".join(json.dumps(r) + "\n" for r in self.records).encode())
        for watcher in self.watchers:
            watcher.record(record)

    def close(self) -> None:
        for watcher in self.watchers:
            watcher.close()

    def last(self, key: str, phase: str | None = None) -> float:
        values = [r[key] for r in self.records if key in r and phase in (None, r["phase"])]
        return values[-1] if values else math.nan

    def best(self, key: str) -> float:
        return min((r[key] for r in self.records if key in r), default=math.inf)

    def phase_seconds(self) -> dict[str, float]:
        """Seconds per phase over the records: the time_<phase> values summed."""
        totals: dict[str, float] = {}
        for record in self.records:
            for key, value in record.items():
                if key.startswith("time_"):
                    totals[key[5:]] = totals.get(key[5:], 0.0) + value
        return totals


def parse_records(text: str, where: str) -> list[dict]:
    lines = text.split("\n")
    if not text.endswith("\n"):  # a live run may be writing its last line: it is not a record yet
        lines = lines[:-1]
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where} line {number}: not a JSON record ({error})") from None
        if not isinstance(record, dict) or not {"phase", "step"} <= record.keys():
            raise ValueError(f"{where} line {number}: a record needs a phase and a step")
        records.append(record)
    return records


def read_records(run: RunStore) -> list[dict]:
    """The records of a run's metrics.jsonl."""
    return parse_records(run.read_text(METRICS), f"{run}/{METRICS}")


def run_records(location: str) -> list[dict]:
    """What watchers read: the records of the run at `location` (a folder or a URI); a missing run
    or one without records is an error."""
    run = RunStore(location)
    if not run.is_file(METRICS):
        raise ValueError(f"no run at {location!r}: it has no {METRICS}")
    records = read_records(run)
    if not records:
        raise ValueError(f"run {location!r} has no records yet")
    return records


def records_at(run: RunStore, checkpoint: Checkpoint) -> list[dict]:
    """The records a resumed run keeps: those the checkpoint covers, then the record of the step it
    was taken at (as the log has it, or as the checkpoint kept it if the run died before writing it)."""
    count, pending = checkpoint.progress["records"], checkpoint.progress["pending"]
    records = read_records(run) if run.exists(METRICS) else []
    if pending is None:  # the checkpoint of step 0
        return []
    if len(records) < count:
        raise ValueError(f"{run}/{METRICS} holds {len(records)} records, but checkpoint {checkpoint.name} "
                         f"follows {count}: the log was cut or replaced")
    logged = records[count] if len(records) > count else None
    same_step = logged is not None and (logged.get("phase"), logged.get("step")) == (pending["phase"], pending["step"])
    return records[:count] + [logged if same_step else pending]
