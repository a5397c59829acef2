"""The frontier's figure: quality against diversity over the temperature sweep, one colour per method,
its seeds drawn as their mean curve with a band of ± one standard deviation of the quality, τ = 1
starred. Oracle runs: NLL-oracle against NLL-test. Text runs: BLEU-5 against Self-BLEU-5 and against
NLL-test. Published figures (`seqgan frontier --mark`) are drawn as labelled reference markers: a point
where a mark gives both axes, a horizontal line where it gives only the quality."""
from __future__ import annotations

import statistics

from learner.watch.equal_diversity import TITLES
from learner.watch.plot import new_figure

PANELS = {"oracle": [("nll_test", "nll_oracle")], "text": [("self_bleu_5", "bleu_5"), ("nll_test", "bleu_5")]}
MARK_STYLES = ["X", "P", "D", "s", "^", "v"]
HINTS = {"nll_oracle": "lower is better", "bleu_5": "higher is better", "nll_test": "lower: more diverse",
         "self_bleu_5": "lower: more diverse"}


def method_band(entries: list[dict], x_key: str, y_key: str):
    """(τ, mean x, mean y, sd y) per temperature over a method's runs (sd 0 for one run)."""
    rows = []
    for column in zip(*(sorted(e["points"], key=lambda p: p["temperature"]) for e in entries)):
        ys = [p[y_key] for p in column]
        rows.append((column[0]["temperature"], statistics.fmean(p[x_key] for p in column), statistics.fmean(ys),
                     statistics.stdev(ys) if len(ys) > 1 else 0.0))
    return rows


def parse_mark(text: str) -> dict:
    """'LABEL:KEY=V,KEY=V' -> {"label": LABEL, KEY: V, ...}: a published point to draw beside the curves."""
    import math

    label, colon, pairs = text.rpartition(":")
    if not colon or not label.strip() or not pairs:
        raise ValueError(f"a mark is LABEL:KEY=VALUE[,KEY=VALUE], e.g. 'Texygen MLE:bleu_5=0.189,self_bleu_5=0.408'; "
                         f"got {text!r}")
    mark = {"label": label.strip()}
    for pair in pairs.split(","):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or key not in TITLES:
            raise ValueError(f"mark {text!r}: {pair!r} is not KEY=VALUE with KEY one of {', '.join(TITLES)}")
        try:
            mark[key] = float(value)
        except ValueError:
            mark[key] = math.nan
        if not math.isfinite(mark[key]):
            raise ValueError(f"mark {text!r}: {key} must be a finite number, got {value!r}")
    return mark


def check_marks(marks: list[dict], kind: str) -> None:
    """Every mark names the quality measure of the runs' kind (what the curves are drawn against)."""
    quality = PANELS[kind][0][1]
    for mark in marks:
        if quality not in mark:
            raise ValueError(f"mark {mark['label']!r} has no {quality}: {kind} runs are drawn with {TITLES[quality]} "
                             f"as quality (keys {', '.join(k for k in mark if k != 'label')} given)")


def draw_marks(axes, marks: list[dict], x_key: str, y_key: str) -> None:
    for index, mark in enumerate(marks):
        style = dict(color="black", label=f"{mark['label']} (published)")
        if x_key in mark:
            axes.plot([mark[x_key]], [mark[y_key]], linestyle="", marker=MARK_STYLES[index % len(MARK_STYLES)],
                      markersize=9, markerfacecolor="none", **style)
        else:  # no published figure on this axis: its quality as a level
            axes.axhline(mark[y_key], linestyle=(0, (4, 2 + index)), linewidth=0.8, **style)


def draw_panel(axes, document: dict, x_key: str, y_key: str) -> None:
    methods: dict[str, list[dict]] = {}
    for entry in document["runs"]:
        methods.setdefault(entry["method"], []).append(entry)
    for index, (method, entries) in enumerate(methods.items()):
        color = f"C{index % 10}"
        rows = method_band(entries, x_key, y_key)
        taus, xs, ys, sds = (list(column) for column in zip(*rows))
        seeds = ", ".join(str(e["seed"]) for e in entries)
        axes.plot(xs, ys, color=color, marker=".", markersize=3,
                  label=f"{method} ({len(entries)} run{'s' if len(entries) > 1 else ''}: seed {seeds})")
        if len(entries) > 1:  # the band: the curve shifted by ± sd, drawn as one polygon
            axes.fill(xs + xs[::-1], [y + s for y, s in zip(ys, sds)] + [y - s for y, s in zip(ys[::-1], sds[::-1])],
                      color=color, alpha=0.2, linewidth=0)
        one = taus.index(1.0)
        axes.plot([xs[one]], [ys[one]], color=color, marker="*", markersize=14, markeredgecolor="black")
        for end in (0, len(taus) - 1):
            axes.annotate(f"τ={taus[end]:g}", (xs[end], ys[end]), fontsize=7, color=color,
                          textcoords="offset points", xytext=(4, 4))
    level = document["equal_diversity"]
    if level["level"] is not None and level["diversity"] == x_key:
        axes.axvline(level["level"], color="gray", linestyle=":",
                     label=f"{level['baseline']} at τ = 1: equal diversity")
    draw_marks(axes, document.get("marks", []), x_key, y_key)
    axes.plot([], [], linestyle="", marker="*", color="gray", markeredgecolor="black", markersize=10,
              label="τ = 1 (as trained)")
    axes.set(xlabel=f"{TITLES[x_key]} ({HINTS[x_key]})", ylabel=f"{TITLES[y_key]} ({HINTS[y_key]})",
             title=f"{TITLES[y_key]} against {TITLES[x_key]}, τ from {min(document['temperatures']):g} "
                   f"to {max(document['temperatures']):g}")
    axes.legend(fontsize=8)


def plot_frontier(document: dict, out: str) -> None:
    """Draw a frontier document (learner/watch/frontier.py) into the image file `out`."""
    panels = PANELS[document["kind"]]
    figure = new_figure()
    figure.set_size_inches(8, 6 * len(panels))
    for axes, (x_key, y_key) in zip(figure.subplots(len(panels), 1, squeeze=False)[:, 0], panels):
        draw_panel(axes, document, x_key, y_key)
    figure.suptitle(f"Quality against diversity: {document['samples']} samples per τ (seed {document['seed']}), "
                    f"{document['checkpoint']} generators; band: ± sd over seeds", fontsize=9)
    figure.savefig(out, dpi=100)
