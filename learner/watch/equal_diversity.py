"""Quality at equal diversity, from temperature curves: each method's quality where its curve reaches
the baseline's diversity at τ = 1, and which method's curve is better than which over their shared range.

A curve is a run's points in temperature order, (x = diversity, y = quality). Along it x is not
monotone (NLL-test is lowest near the trained τ and rises on both sides), so a diversity level can be
reached at two temperatures; the quality taken there is the better of them, what the method can
offer at that diversity. Between points the curve is a straight line.
"""
from __future__ import annotations

import statistics

# kind -> (quality key, diversity key); oracle: both NLLs, lower is better; text: BLEU-5 (higher is
# better) against Self-BLEU-5 (lower is more diverse).
AXES = {"oracle": ("nll_oracle", "nll_test"), "text": ("bleu_5", "self_bleu_5")}
LOWER_IS_BETTER = {"oracle": True, "text": False}  # of the quality measure
TITLES = {"nll_oracle": "NLL-oracle", "nll_test": "NLL-test", "bleu_5": "BLEU-5", "self_bleu_5": "Self-BLEU-5"}
GRID = 64  # diversity levels compared across a shared range


def curve(points: list[dict], kind: str) -> list[tuple[float, float, float]]:
    """(diversity, quality, τ) per point, in temperature order."""
    quality, diversity = AXES[kind]
    return [(p[diversity], p[quality], p["temperature"]) for p in sorted(points, key=lambda p: p["temperature"])]


def quality_at(points: list[tuple[float, float, float]], level: float,
               lower_is_better: bool) -> tuple[float, float] | None:
    """(quality, τ) where the curve reaches diversity `level` (linear between points), the better
    quality where it reaches it more than once; None when it never does."""
    found = []
    for (x0, y0, t0), (x1, y1, t1) in zip(points, points[1:]):
        if min(x0, x1) <= level <= max(x0, x1):
            share = 0.0 if x1 == x0 else (level - x0) / (x1 - x0)
            found.append((y0 + share * (y1 - y0), t0 + share * (t1 - t0)))
    if len(points) == 1 and points[0][0] == level:
        found.append(points[0][1:])
    if not found:
        return None
    return (min if lower_is_better else max)(found, key=lambda pair: pair[0])


def mean_curve(curves: list[list[tuple[float, float, float]]]) -> list[tuple[float, float, float]]:
    """The pointwise mean of curves over the same temperatures (a method's seeds)."""
    return [(statistics.fmean(p[0] for p in column), statistics.fmean(p[1] for p in column), column[0][2])
            for column in zip(*curves)]


def method_curves(entries: list[dict], kind: str) -> dict[str, list[list[tuple[float, float, float]]]]:
    """{method: its runs' curves}, methods in first-seen order."""
    methods: dict[str, list] = {}
    for entry in entries:
        methods.setdefault(entry["method"], []).append(curve(entry["points"], kind))
    return methods


def equal_diversity(entries: list[dict], kind: str, baseline: str = "mle") -> dict:
    """Per method, its runs' quality at the baseline method's mean τ = 1 diversity, with mean ± sd
    over runs; `level` is None (and says why) when no run of the baseline is given."""
    quality, diversity = AXES[kind]
    lower = LOWER_IS_BETTER[kind]
    at_one = [p[diversity] for e in entries if e["method"] == baseline for p in e["points"] if p["temperature"] == 1.0]
    result = {"baseline": baseline, "quality": quality, "diversity": diversity,
              "level": statistics.fmean(at_one) if at_one else None, "methods": {}}
    if not at_one:
        result["note"] = f"no run of the baseline method {baseline!r}: nothing to compare at"
        return result
    for method, curves in method_curves(entries, kind).items():
        runs = [quality_at(c, result["level"], lower) for c in curves]
        values = [r[0] for r in runs if r is not None]
        result["methods"][method] = {
            "runs": [None if r is None else {"quality": r[0], "temperature": r[1]} for r in runs],
            "mean": statistics.fmean(values) if values else None,
            "sd": statistics.stdev(values) if len(values) > 1 else None,
            "reached": len(values), "of": len(runs)}
    return result


def dominance(entries: list[dict], kind: str) -> list[dict]:
    """For each pair of methods (mean curves over their runs): over the diversity range both curves
    span, whether one's quality is at least as good everywhere (`better`) or the curves cross."""
    lower = LOWER_IS_BETTER[kind]
    means = {method: mean_curve(curves) for method, curves in method_curves(entries, kind).items()}
    names = list(means)
    verdicts = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            verdicts.append(compare(first, means[first], second, means[second], lower))
    return verdicts


def compare(first: str, a: list, second: str, b: list, lower: bool) -> dict:
    start = max(min(x for x, _, _ in a), min(x for x, _, _ in b))
    stop = min(max(x for x, _, _ in a), max(x for x, _, _ in b))
    verdict = {"methods": [first, second], "from": start, "to": stop}
    if start > stop:
        return {**verdict, "from": None, "to": None, "better": None, "verdict": "no shared diversity range"}
    levels = [start + (stop - start) * k / (GRID - 1) for k in range(GRID - 1)] + [stop]  # both ends exact
    gaps = [quality_at(a, x, lower)[0] - quality_at(b, x, lower)[0] for x in levels]  # a - b
    a_better = all(g <= 0 for g in gaps) if lower else all(g >= 0 for g in gaps)
    b_better = all(g >= 0 for g in gaps) if lower else all(g <= 0 for g in gaps)
    if a_better != b_better:
        winner, loser = (first, second) if a_better else (second, first)
        return {**verdict, "better": winner, "verdict": f"{winner} better than {loser} over the whole shared range"}
    if a_better:  # equal everywhere
        return {**verdict, "better": None, "verdict": "equal"}
    return {**verdict, "better": None, "verdict": "the curves cross"}


def cell(value: float | None, sd: float | None, places: int) -> str:
    if value is None:
        return "not reached"
    return f"{value:.{places}f}" + ("" if sd is None else f" ± {sd:.{places}f}")


def summary_lines(document: dict, places: int = 3) -> list[str]:
    """Markdown for a frontier document: quality at equal diversity per method, then the verdicts."""
    result = document["equal_diversity"]
    quality, diversity = TITLES[result["quality"]], TITLES[result["diversity"]]
    if result["level"] is None:
        lines = [f"Quality at equal diversity: {result['note']}."]
    else:
        lines = [f"| method | runs | {quality} at {result['baseline']}'s τ = 1 {diversity} "
                 f"({result['level']:.{places}f}) | τ there |", "| --- | --- | --- | --- |"]
        for method, row in result["methods"].items():
            taus = [r["temperature"] for r in row["runs"] if r is not None]
            tau = f"{statistics.fmean(taus):.2f}" if taus else ""
            value = cell(row["mean"], row["sd"], places)
            lines.append(f"| {method} | {row['reached']}/{row['of']} | {value} | {tau} |")
    lines.append("")
    for verdict in document["dominance"]:
        span = "" if verdict["from"] is None else \
            f" ({diversity} {verdict['from']:.{places}f} to {verdict['to']:.{places}f})"
        lines.append(f"- {' vs '.join(verdict['methods'])}: {verdict['verdict']}{span}")
    return lines


def report_columns(document: dict, places: int = 3) -> tuple[list[str], dict[str, list[str]]]:
    """Titles and {method: cells} for `seqgan report --by-method --frontier`: quality at equal
    diversity, and the methods whose curves this method's is better than."""
    result = document["equal_diversity"]
    title = f"{TITLES[result['quality']]} at {result['baseline']}'s τ = 1 {TITLES[result['diversity']]}"
    beaten: dict[str, list[str]] = {}
    for verdict in document["dominance"]:
        if verdict["better"] is not None:
            loser = [m for m in verdict["methods"] if m != verdict["better"]][0]
            beaten.setdefault(verdict["better"], []).append(loser)
    cells = {}
    for method in dict.fromkeys(e["method"] for e in document["runs"]):
        row = result["methods"].get(method)
        cells[method] = [cell(row["mean"], row["sd"], places) if row else "",
                         ", ".join(beaten.get(method, [])) or "none"]
    return [title, "curve better than"], cells
