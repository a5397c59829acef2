"""`seqgan sweep`: a grid of training runs as Ray Tune trials, one run directory per point under OUT,
resumable (`--resume OUT`), ending with OUT/report.md (and with `--frontier`, the points' temperature
sweep)."""
from __future__ import annotations

import os
import sys

from learner.commands.common import add_overrides, int_at_least, keep_local_ray_on_loopback, positive_int
from learner.commands.frontier import DEFAULT_SAMPLES, samples_arg
from learner.run.store import RunStore, check_location
from learner.stopping import RunFailed
from learner.sweep.grid import Spec, check_disjoint, expand, parse_grid
from learner.sweep.state import SweepState, check_same_sweep, stored_spec
from learner.sweep.table import write_frontier, write_report
from seqgan.files import read_text

MISSING = "seqgan sweep needs Ray Tune: pip install 'seqgan[sweep]'"


def sweep_points(args, out: RunStore):
    """(spec, points) of a new sweep, or of the one OUT holds (--resume), every point checked."""
    if args.resume:
        if args.config or args.grid or args.set:
            raise ValueError("--resume OUT continues the sweep OUT holds: give no --config, --grid or --set")
        spec = stored_spec(out)
        if spec is None:
            raise FileNotFoundError(f"--resume {args.resume!r}: no sweep there (no sweep.json)")
        return spec, expand(spec)
    preset = read_text(args.config, "config file") if args.config else None
    grid = parse_grid(args.grid)
    check_disjoint(grid, args.set)
    spec = Spec(preset, tuple(args.set), grid)
    points = expand(spec, args.config)
    check_same_sweep(out, points)
    return spec, points


def tune_module():
    try:
        from learner.sweep import tuning
    except ImportError as error:
        raise ValueError(f"{MISSING} ({error})") from None
    return tuning


def cmd_sweep(args) -> None:
    location = args.resume or args.out
    check_location(location)
    out = RunStore(location)
    spec, points = sweep_points(args, out)  # bad input stops here, before Ray starts
    if args.frontier:
        from learner.watch.plot import new_figure
        new_figure()  # matplotlib missing: said now, not after the runs
    first = points[0].config
    if not (args.address or first.ray.address or os.environ.get("RAY_ADDRESS")):
        keep_local_ray_on_loopback()
    tuning = tune_module()
    with tuning.cluster(points, args.address):
        state = SweepState(out, spec, points)
        todo = [p for p in points if p.name in state.unfinished()]
        print(f"seqgan: sweep of {len(points)} runs in {location}: {len(points) - len(todo)} finished, "
              f"{len(todo)} to run", file=sys.stderr, flush=True)
        failed = []
        if todo:
            launch = state.launch()
            failed = tuning.run_trials(out, todo, state, launch, args.max_concurrent, args.max_failures)
        state.settle()
    done = [p.name for p in points if state.states[p.name] == "finished"]
    frontier = None
    if args.frontier and done:  # after Ray is down: the frontier forks its processes
        from learner.threads import usable_cores
        from learner.watch.frontier import stderr_line
        try:
            frontier = write_frontier(out, done, args.frontier, usable_cores(), say=stderr_line)
        except ValueError as error:  # e.g. a grid over data.oracle_seed: no one curve plot; the report stands
            stderr_line(f"seqgan: no frontier for this sweep: {error}")
    table = write_report(out, done, frontier) if done else ""
    print(table)
    if failed or len(done) < len(points):
        raise RunFailed(f"{len(points) - len(done)} of {len(points)} points did not finish "
                        f"({', '.join(failed) or 'see sweep.json'}); their checkpoints stay: continue with "
                        f"seqgan sweep --resume {location}")


def register(sub) -> None:
    sweep = sub.add_parser("sweep", help="a grid of training runs as Ray Tune trials, with one report")
    sweep.add_argument("--config", help="YAML preset every point starts from; defaults otherwise")
    sweep.add_argument("--grid", action="append", default=[], metavar="SECTION.KEY=V1,V2,...",
                       help="a swept key and its values; the points are the cross product of all --grid")
    add_overrides(sweep, "fixed overrides for every point (a key may not also be in --grid)")
    target = sweep.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="the sweep's folder (a path or a URI): OUT/<point>/ per run, "
                                      "OUT/sweep.json, OUT/report.md")
    target.add_argument("--resume", metavar="OUT", help="continue the sweep in OUT: finished points are not rerun, "
                                                        "interrupted ones resume from their latest checkpoint")
    sweep.add_argument("--address", help="Ray cluster to join (else RAY_ADDRESS, else a local Ray)")
    sweep.add_argument("--max-concurrent", type=positive_int, metavar="K",
                       help="trials at once (default: as many as the cluster holds)")
    sweep.add_argument("--max-failures", type=int_at_least(0, "a count >= 0"), default=3,
                       help="retries of a trial whose process or node dies (default: 3)")
    sweep.add_argument("--frontier", type=samples_arg, nargs="?", const=DEFAULT_SAMPLES, metavar="SAMPLES",
                       help="at the end, `seqgan frontier` over the finished points (its default temperatures, "
                            f"SAMPLES per run and τ, default {DEFAULT_SAMPLES}): OUT/frontier.json, "
                            "OUT/frontier.png and its columns in OUT/report.md (seqgan[watch])")
    sweep.set_defaults(func=cmd_sweep)
