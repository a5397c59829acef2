"""A sweep's points: the cross product of its `--grid KEY=V1,V2,...` values over one preset and its
`--set` overrides, each point named by what it sets (`train.method=ss,train.seed=1`) and its config
built and validated before any trial starts."""
from __future__ import annotations

import contextlib
import itertools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqgan.config import Config, ConfigError
from seqgan.config_files import load_config

UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")  # a point's name is a folder name, on a disk or in a bucket


@dataclass(frozen=True)
class Spec:
    """What a sweep is: the preset's text (None: the defaults), its --set overrides and its grid
    [(key, [value text, ...]), ...]."""
    preset: str | None
    sets: tuple[str, ...]
    grid: tuple[tuple[str, tuple[str, ...]], ...]

    def to_json(self) -> dict:
        return {"preset": self.preset, "set": list(self.sets), "grid": [[k, list(v)] for k, v in self.grid]}

    @staticmethod
    def from_json(data: dict) -> "Spec":
        return Spec(data["preset"], tuple(data["set"]), tuple((k, tuple(v)) for k, v in data["grid"]))


@dataclass(frozen=True)
class Point:
    name: str
    overrides: tuple[str, ...]  # the grid's assignments for this point
    config: Config


def parse_grid(assignments: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`KEY=V1,V2,...` each; a key at most once, at least one value, no value twice."""
    if not assignments:
        raise ValueError("an empty grid: give at least one --grid SECTION.KEY=V1,V2,...")
    grid = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        values = tuple(v.strip() for v in text.split(",")) if sep else ()
        if not key or not values or any(v == "" for v in values):
            raise ValueError(f"--grid {assignment!r}: expected SECTION.KEY=V1,V2,... with no empty value")
        if key in grid:
            raise ValueError(f"--grid {key} is given twice: give all its values in one --grid {key}=V1,V2,...")
        if len(set(values)) < len(values):
            raise ValueError(f"--grid {assignment!r}: a value appears twice (the points would be the same run)")
        grid[key] = values
    return tuple(grid.items())


def check_disjoint(grid, sets: list[str]) -> None:
    """A key swept and also fixed with --set would be ambiguous."""
    set_keys = {assignment.partition("=")[0].strip() for assignment in sets}
    both = [key for key, _ in grid if key in set_keys]
    if both:
        raise ValueError(f"{both[0]} is both in --grid and in --set: sweep it or fix it, not both")


def point_name(assignments: tuple[str, ...]) -> str:
    return UNSAFE.sub("_", ",".join(assignments))


@contextlib.contextmanager
def preset_file(spec: Spec, path: str | None):
    """A file holding the spec's preset: `path` itself when given (so errors name it), else a copy."""
    if path is not None or spec.preset is None:
        yield path
        return
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "config.yaml"
        copy.write_text(spec.preset)
        yield copy


def expand(spec: Spec, path: str | None = None) -> list[Point]:
    """Every point of the grid with its config, in grid order (the last key varies fastest); any point
    whose config does not build or validate is an error naming the point."""
    keys = [key for key, _ in spec.grid]
    points, names = [], set()
    with preset_file(spec, path) as preset:
        for values in itertools.product(*(values for _, values in spec.grid)):
            assignments = tuple(f"{key}={value}" for key, value in zip(keys, values))
            name = point_name(assignments)
            if name in names:
                raise ValueError(f"two points of the grid have the same name {name!r}: use values that differ "
                                 "in letters, digits or . _ = , + -")
            names.add(name)
            try:
                config = load_config(preset, [*spec.sets, *assignments])
            except ConfigError as error:
                raise ConfigError(f"sweep point {name}: {error}") from None
            points.append(Point(name, assignments, config))
    return points
