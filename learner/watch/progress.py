"""Training progress for a person watching: tqdm bars on a terminal, one line per step elsewhere.

Pipes and `ray job logs` get plain lines because a bar's carriage returns turn into one long,
unreadable line there.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from tqdm import tqdm

# How each value is printed, in the order of a line; losses vary in scale, so significant digits.
FORMATS = {"g_loss": ".4g", "d_loss": ".4g", "d_acc": ".2f", "mean_reward": ".3g", "nll_oracle": ".3f",
           "nll_test": ".3f", "d_acc_heldout": ".2f", "units_rerun": "g", "version_lag_max": "g"}
BAR_KEYS = ("g_loss", "d_loss", "nll_oracle", "nll_test", "d_acc_heldout", "mean_reward")


def shown_values(record: dict, keys: Iterable[str]) -> dict[str, str]:
    """The values of `keys` the record holds, formatted; null (never evaluated) is left out."""
    return {key: format(record[key], FORMATS[key]) for key in keys if record.get(key) is not None}


def step_seconds(record: dict) -> float | None:
    """The step's time over all its parts (time_mle, time_eval, ...), None when it has none."""
    times = [value for key, value in record.items() if key.startswith("time_")]
    return sum(times) if times else None


def describe(record: dict, total: int) -> str:
    """One line: `adv 12/200 g_loss=-3.21 nll_oracle=8.912 (4.1 s)`."""
    values = " ".join(f"{key}={text}" for key, text in shown_values(record, FORMATS).items())
    seconds = step_seconds(record)
    parts = [f"{record['phase']} {record['step'] + 1}/{total}", values,
             f"({seconds:.3g} s)" if seconds is not None else ""]
    return " ".join(part for part in parts if part)


class Progress:
    """Shows each metrics record as it is logged; `done` (a resumed run's records) sets where bars start."""

    def __init__(self, totals: dict[str, int], stream: TextIO = sys.stderr, done: Iterable[dict] = ()):
        self.totals = {phase: total for phase, total in totals.items() if total > 0}
        self.stream = stream
        self.on_terminal = stream.isatty()
        self.steps_done: dict[str, int] = {}
        self.latest: dict[str, dict[str, str]] = {}  # per phase: the bar's postfix, kept between evaluations
        for record in done:
            self._remember(record)
        self.bar: tqdm | None = None

    def record(self, record: dict) -> None:
        phase = record["phase"]
        if phase not in self.totals:
            return
        if self.on_terminal:
            self._advance_bar(record)
        else:
            print(describe(record, self.totals[phase]), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _remember(self, record: dict) -> None:
        phase = record["phase"]
        self.steps_done[phase] = max(self.steps_done.get(phase, 0), record["step"] + 1)
        self.latest.setdefault(phase, {}).update(shown_values(record, BAR_KEYS))

    def _advance_bar(self, record: dict) -> None:
        phase = record["phase"]
        if self.bar is None or self.bar.desc != phase:
            self.close()
            self.bar = tqdm(total=self.totals[phase], initial=self.steps_done.get(phase, 0), desc=phase,
                            file=self.stream, dynamic_ncols=True)
        self._remember(record)
        self.bar.set_postfix(self.latest[phase], refresh=False)
        self.bar.update(self.steps_done[phase] - self.bar.n)
