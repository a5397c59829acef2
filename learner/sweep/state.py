"""OUT/sweep.json: what the sweep is (its spec) and each point's state, written by the sweep's driver
only and replaced whole on every change. The run directories stay the source of truth: a point is
finished exactly when its run has a summary.json, whatever the file says after a crash."""
from __future__ import annotations

import json

from learner.run.store import RunStore
from learner.sweep.grid import Point, Spec, expand
from seqgan.config import to_dict

FILE = "sweep.json"
STATES = ("pending", "running", "retrying", "finished", "failed")


def finished(out: RunStore, name: str) -> bool:
    return RunStore(f"{out.location.rstrip('/')}/{name}").exists("summary.json")


def stored_spec(out: RunStore) -> Spec | None:
    if not out.is_file(FILE):
        return None
    try:
        return Spec.from_json(json.loads(out.read_text(FILE))["spec"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{out.location}/{FILE} is not a sweep's state file ({error})") from None


def check_same_sweep(out: RunStore, points: list[Point]) -> None:
    """An OUT that already holds a sweep may only continue that sweep (the same points with the
    same configs); an OUT holding anything else that a sweep would write into is refused."""
    spec = stored_spec(out)
    if spec is None:
        clashes = [name for name in ("config.yaml", *(p.name for p in points)) if out.exists(name)]
        if clashes:
            raise FileExistsError(f"--out {out.location!r} already holds {clashes[0]!r} but no {FILE}: give a "
                                  "new --out so nothing there is overwritten")
        return
    before = {p.name: to_dict(p.config) for p in expand(spec)}
    after = {p.name: to_dict(p.config) for p in points}
    if before != after:
        differ = sorted(set(before) ^ set(after)) or [n for n in after if before[n] != after[n]]
        raise ValueError(f"--out {out.location!r} holds a different sweep (point {differ[0]} differs): give a new "
                         f"--out, or continue that sweep with seqgan sweep --resume {out.location}")


class SweepState:
    """The file's contents: the spec, the launch count (one per `seqgan sweep` that ran trials) and
    {point name: state}."""

    def __init__(self, out: RunStore, spec: Spec, points: list[Point]):
        self.out, self.spec = out, spec
        self.launches = self._stored_launches()
        self.states = {p.name: "finished" if finished(out, p.name) else "pending" for p in points}

    def _stored_launches(self) -> int:
        if not self.out.is_file(FILE):
            return 0
        return int(json.loads(self.out.read_text(FILE)).get("launches", 0))

    def unfinished(self) -> list[str]:
        return [name for name, state in self.states.items() if state != "finished"]

    def launch(self) -> int:
        """Counts a new launch and writes the file; returns the launch's number."""
        self.launches += 1
        self.write()
        return self.launches

    def mark(self, name: str, state: str) -> None:
        assert state in STATES, state
        self.states[name] = state
        self.write()

    def settle(self) -> None:
        """After the trials: each point's state from its run directory."""
        for name in self.states:
            if finished(self.out, name):
                self.states[name] = "finished"
            elif self.states[name] != "failed":
                self.states[name] = "pending"
        self.write()

    def write(self) -> None:
        data = {"spec": self.spec.to_json(), "launches": self.launches,
                "points": [{"name": name, "state": state} for name, state in self.states.items()]}
        self.out.make()
        self.out.write_bytes(FILE, (json.dumps(data, indent=1) + "\n").encode())
