"""OUT/report.md: `seqgan report --by-method` over the sweep's finished points, and with `--frontier`
their temperature sweep (OUT/frontier.json, OUT/frontier.png) and its columns in the report."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from learner.run.store import RunStore
from learner.watch.report import report

REPORT = "report.md"
FRONTIER = "frontier.json"
FRONTIER_PLOT = "frontier.png"


def point_locations(out: RunStore, names: list[str]) -> list[str]:
    return [f"{out.location.rstrip('/')}/{name}" for name in names]


def write_frontier(out: RunStore, names: list[str], samples: int, processes: int, say=None) -> dict:
    """`seqgan frontier` over the named points at its default temperatures and seed, written to
    OUT/frontier.json and OUT/frontier.png (matplotlib: checked before the sweep starts); returns it."""
    from learner.watch.frontier import DEFAULT_TEMPERATURES, frontier, temperature_list

    document = frontier(point_locations(out, names), temperature_list(DEFAULT_TEMPERATURES), samples,
                        say=say, processes=processes)
    out.write_bytes(FRONTIER, json.dumps(document, indent=1).encode())
    from learner.watch.frontier_plot import plot_frontier
    with tempfile.TemporaryDirectory() as folder:  # savefig writes a local file; OUT may be a URI
        image = Path(folder) / FRONTIER_PLOT
        plot_frontier(document, str(image))
        out.write_bytes(FRONTIER_PLOT, image.read_bytes())
    return document


def write_report(out: RunStore, names: list[str], frontier: dict | None = None) -> str:
    """The table over the named points' runs (with the frontier's columns when given), written to
    OUT/report.md; returns it."""
    table = report(point_locations(out, names), by_method=True, frontier=frontier)
    out.write_bytes(REPORT, (table + "\n").encode())
    return table
