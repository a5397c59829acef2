"""Learning curves of runs, drawn as in the SeqGAN paper's figure: NLL against the generator's training
step (MLE epochs, then adversarial iterations continuing the count), and D's held-out accuracy.

D pre-training rounds leave G unchanged, so they take no place on the generator's axis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from learner.run.log import run_records
from learner.run.store import run_labels

WATCH_EXTRA = "pip install 'seqgan[watch]'"


@dataclass
class Curves:
    """One run's points: (generator step, NLL) and (adversarial iteration, held-out accuracy)."""
    label: str
    nll_oracle: list[tuple[int, float]] = field(default_factory=list)
    nll_test: list[tuple[int, float]] = field(default_factory=list)
    d_acc_heldout: list[tuple[int, float]] = field(default_factory=list)
    adversarial_start: int | None = None  # generator step where the adversarial phase begins


def curves(label: str, records: list[dict]) -> Curves:
    run = Curves(label)
    mle_epochs = max((r["step"] + 1 for r in records if r["phase"] == "mle"), default=0)
    for r in records:
        if r["phase"] == "mle":
            add_point(run.nll_oracle, r["step"] + 1, r.get("nll_oracle"))
            add_point(run.nll_test, r["step"] + 1, r.get("nll_test"))
            continue
        run.adversarial_start = mle_epochs
        if r["phase"] == "disc":  # D as the adversarial phase starts with it: iteration 0
            add_point(run.d_acc_heldout, 0, r.get("d_acc_heldout"))
        elif r["phase"] == "adv":
            add_point(run.nll_oracle, mle_epochs + r["step"] + 1, r.get("nll_oracle"))
            add_point(run.nll_test, mle_epochs + r["step"] + 1, r.get("nll_test"))
            add_point(run.d_acc_heldout, r["step"] + 1, r.get("d_acc_heldout"))
    return run


def add_point(points: list[tuple[int, float]], x: int, y: float | None) -> None:
    if y is not None:
        points.append((x, y))


def xy(points: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [x for x, _ in points], [y for _, y in points]


def new_figure():
    """A matplotlib figure on the Agg canvas (files only, no display, no pyplot state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError(f"plotting needs matplotlib: {WATCH_EXTRA}") from None
    figure = Figure(figsize=(8, 8), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def draw_nll(axes, runs: list[Curves]) -> None:
    from matplotlib.lines import Line2D

    for index, run in enumerate(runs):
        color = f"C{index % 10}"
        axes.plot(*xy(run.nll_oracle), color=color, label=run.label)  # in the legend even when empty
        axes.plot(*xy(run.nll_test), color=color, linestyle="--")
        if run.adversarial_start is not None:
            axes.axvline(run.adversarial_start, color=color, linestyle=":", alpha=0.7)
    axes.set(title="Learning curves", xlabel="generator training step (MLE epochs, then adversarial iterations)",
             ylabel="NLL (nats per token)")
    axes.add_artist(axes.legend(loc="upper right", title="run"))
    styles = [Line2D([], [], color="gray", linestyle=s) for s in ("-", "--", ":")]
    axes.legend(styles, ["NLL-oracle", "NLL-test", "adversarial training starts"], loc="upper center")


def draw_d_accuracy(axes, runs: list[Curves]) -> None:
    for index, run in enumerate(runs):
        axes.plot(*xy(run.d_acc_heldout), color=f"C{index % 10}", marker=".", label=run.label)
    axes.axhline(0.5, color="gray", linestyle=":", label="chance")
    axes.set(title="Discriminator on held-out data", ylim=(0, 1.02), ylabel="accuracy",
             xlabel="adversarial iteration (0: after D pre-training)")
    axes.legend(loc="lower right")


def plot_runs(locations: list[str], out: str) -> None:
    """Draw the runs at `locations` into the image file `out` (its format from its extension)."""
    runs = [curves(label, run_records(location)) for label, location in zip(run_labels(locations), locations)]
    figure = new_figure()
    nll_axes, accuracy_axes = figure.subplots(2, 1, height_ratios=(3, 2))
    draw_nll(nll_axes, runs)
    draw_d_accuracy(accuracy_axes, runs)
    figure.savefig(out, dpi=100)
