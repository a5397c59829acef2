"""Argument types and helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def keep_local_ray_on_loopback() -> None:
    """A Ray started here binds to 127.0.0.1 only. Ray reads this switch when it is first imported
    and otherwise rewrites 127.0.0.1 to the machine's routable address."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def int_at_least(lowest: int, what: str):
    """argparse type: an integer >= `lowest`, described as `what` in the error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


positive_int = int_at_least(1, "a positive integer")  # counts and sizes
seed_int = int_at_least(0, "a seed: an integer >= 0")
length_int = int_at_least(2, "a sequence length of at least 2")


def temperature_value(text: str) -> float:
    """argparse type: a sampling temperature, a finite number > 0."""
    from seqgan.models import check_temperature

    try:
        return check_temperature(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a temperature: a finite number > 0, got {text!r}") from None


def new_output(path: str) -> str:
    """Refuse to replace a file the user already has (samples, oracles): nothing written is lost."""
    if Path(path).exists():
        raise FileExistsError(f"{path!r} already exists: give another --out (nothing was overwritten)")
    return path


def add_overrides(command: argparse.ArgumentParser, description: str | None = None) -> None:
    command.add_argument("--set", action="extend", nargs="+", default=[], metavar="SECTION.KEY=VALUE",
                         help=description)
