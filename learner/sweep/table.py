"""OUT/report.md: `seqgan report --by-method` over the sweep's finished points."""
from __future__ import annotations

from learner.run.store import RunStore
from learner.watch.report import report

REPORT = "report.md"


def write_report(out: RunStore, names: list[str]) -> str:
    """The table over the named points' runs, written to OUT/report.md; returns it."""
    table = report([f"{out.location.rstrip('/')}/{name}" for name in names], by_method=True)
    out.write_bytes(REPORT, (table + "\n").encode())
    return table
