"""`seqgan report`: one markdown row per run with its best and final scores, as the paper's tables;
with `by_method`, a second table of each method's mean and spread over its runs (seeds)."""
from __future__ import annotations

import math
import statistics

import yaml

from learner.run.log import run_records
from learner.run.store import RunStore, run_labels
from learner.watch.equal_diversity import report_columns

# (record key, column title, lower is better); a column appears when some run logged the key.
NLL = ("nll_oracle", "NLL-oracle", True)
TEXT = [*((f"bleu_{n}", f"BLEU-{n}", False) for n in range(2, 6)),
        *((f"self_bleu_{n}", f"Self-BLEU-{n}", True) for n in range(2, 6))]


def train_section(location: str) -> dict:
    """The run's config.yaml `train:` mapping ({} when absent)."""
    config = yaml.safe_load(RunStore(location).read_text("config.yaml")) or {}
    train = config.get("train") if isinstance(config, dict) else None
    return train if isinstance(train, dict) else {}


def method_of(train: dict) -> str:
    """train.method (runs from before the switch are seqgan)."""
    return str(train.get("method", "seqgan"))


def best(values: list[float], lower: bool) -> float | None:
    return (min(values) if lower else max(values)) if values else None


def scores(records: list[dict]) -> dict[str, float | None]:
    """NLL-oracle after MLE pre-training, best and final; the final NLL-test; BLEU (best: highest)
    and Self-BLEU (best: lowest), best and final."""
    row = {}
    key, _, lower = NLL
    values = [r[key] for r in records if r.get(key) is not None]
    mle = [r[key] for r in records if r.get(key) is not None and r["phase"] == "mle"]
    row.update({"mle " + key: mle[-1] if mle else None, "best " + key: best(values, lower),
                "final " + key: values[-1] if values else None})
    tests = [r["nll_test"] for r in records if r.get("nll_test") is not None]  # G on held-out real data
    row["final nll_test"] = tests[-1] if tests else None
    for key, _, lower in TEXT:
        values = [r[key] for r in records if r.get(key) is not None]
        row.update({"best " + key: best(values, lower), "final " + key: values[-1] if values else None})
    return row


def finite_scores(records: list[dict], location: str) -> list[dict]:
    """The records, when every score the report reads is a finite number: a NaN would otherwise be
    shown as a best or final value (or hidden by min/max)."""
    keys = {NLL[0], "nll_test", *(key for key, _, _ in TEXT)}
    for record in records:
        bad = sorted(k for k in keys & record.keys() if record[k] is not None and not _is_finite(record[k]))
        if bad:
            raise ValueError(f"run {location!r}: its {record['phase']} step {record['step']} record holds "
                             f"{', '.join(f'{k} = {record[k]!r}' for k in bad)}; a score must be a finite number "
                             "(the run diverged, or its metrics.jsonl was edited)")
    return records


def _is_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def columns(rows: list[dict]) -> list[tuple[str, str]]:
    """(row key, title) of every score some run has."""
    key, title, _ = NLL
    wanted = [("mle " + key, f"{title} after MLE"), ("best " + key, f"best {title}"),
              ("final " + key, f"final {title}"), ("final nll_test", "final NLL-test")]
    for key, title, _ in TEXT:
        wanted += [("best " + key, f"best {title}"), ("final " + key, f"final {title}")]
    return [(k, t) for k, t in wanted if any(row.get(k) is not None for row in rows)]


def report(locations: list[str], places: int = 3, by_method: bool = False, frontier: dict | None = None) -> str:
    """The markdown table: run, method, then each score column; with `by_method`, then the mean
    ± sample standard deviation of each column over each method's runs, with their seeds, and with a
    `frontier` document (learner/watch/frontier.py) each method's quality at equal diversity."""
    rows = [scores(finite_scores(run_records(location), location)) for location in locations]
    trains = [train_section(location) for location in locations]
    methods = [method_of(train) for train in trains]
    shown = columns(rows)
    lines = ["| run | method | " + " | ".join(title for _, title in shown) + " |",
             "| --- | --- |" + " --- |" * len(shown)]
    for label, method, row in zip(run_labels(locations), methods, rows):
        cells = ["" if row[k] is None else f"{row[k]:.{places}f}" for k, _ in shown]
        lines.append(f"| {label} | {method} | " + " | ".join(cells) + " |")
    if by_method:
        lines += ["", *method_table(trains, methods, rows, shown, places, frontier)]
    return "\n".join(lines)


def method_table(trains, methods, rows, shown, places, frontier=None) -> list[str]:
    """A row per method, in first-seen order: its runs' seeds, then each column's mean ± sd, then the
    frontier's columns (empty for a method the frontier did not sweep)."""
    titles, extra = report_columns(frontier, places) if frontier else ([], {})
    lines = ["| method | runs | seeds | " + " | ".join([title for _, title in shown] + titles) + " |",
             "| --- | --- | --- |" + " --- |" * (len(shown) + len(titles))]
    for method in dict.fromkeys(methods):
        picked = [i for i, m in enumerate(methods) if m == method]
        seeds = ", ".join(str(trains[i].get("seed", 0)) for i in picked)
        cells = [spread([rows[i][k] for i in picked if rows[i][k] is not None], places) for k, _ in shown]
        cells += extra.get(method, [""] * len(titles))
        lines.append(f"| {method} | {len(picked)} | {seeds} | " + " | ".join(cells) + " |")
    return lines


def spread(values: list[float], places: int) -> str:
    """'mean ± sd' (sample sd), the mean alone for one value, empty for none."""
    if len(values) < 2:
        return f"{values[0]:.{places}f}" if values else ""
    return f"{statistics.fmean(values):.{places}f} ± {statistics.stdev(values):.{places}f}"
