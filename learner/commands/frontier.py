"""`seqgan frontier RUN_DIR...`: quality against diversity over a temperature sweep of each run's
generator, quality at equal diversity and which method's curve is better (learner/watch/frontier.py)."""
from __future__ import annotations

import argparse
import json

from learner.commands.common import int_at_least, keep_local_ray_on_loopback, new_output, positive_int, seed_int
from seqgan.config import MAX_SEQUENCES

DEFAULT_SAMPLES = 10000


def temperatures_arg(text: str) -> list[float]:
    """argparse type: START:STOP:STEP or a comma-separated list of temperatures > 0."""
    from learner.watch.frontier import temperature_list

    try:
        return temperature_list(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def samples_arg(text: str) -> int:
    value = positive_int(text)
    if value < 2 or value > MAX_SEQUENCES:  # Self-BLEU scores each sample against the others
        raise argparse.ArgumentTypeError(f"expected 2 to {MAX_SEQUENCES} samples, got {value}")
    return value


def mark_arg(text: str) -> dict:
    """argparse type: LABEL:KEY=V[,KEY=V], a published point drawn on the plot."""
    from learner.watch.frontier_plot import parse_mark

    try:
        return parse_mark(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_frontier(args) -> None:
    from learner.threads import usable_cores
    from learner.watch.frontier import frontier, stderr_line, table
    from seqgan.files import atomic_write_bytes

    if args.workers and not args.reverse_lm:
        raise ValueError("--workers runs the --reverse-lm trainings: give --reverse-lm too")
    if args.mark and args.plot is None:
        raise ValueError("--mark draws published points on the plot: give --plot FILE.png too")
    if args.workers:
        keep_local_ray_on_loopback()
    for path in (args.out, args.plot):
        if path is not None:
            new_output(path)  # refused before minutes of work, not after
    if args.plot is not None:
        from learner.watch.plot import new_figure
        new_figure()  # matplotlib missing: said now
    document = frontier(args.runs, args.temperatures, args.samples, args.seed, args.checkpoint, args.baseline,
                        say=stderr_line, judge=args.judge, reverse_lm=args.workers if args.reverse_lm else None,
                        processes=args.processes or usable_cores(), marks=args.mark)
    text = json.dumps(document, indent=1)
    if args.out is not None:
        atomic_write_bytes(args.out, [text.encode()])
        stderr_line(f"wrote {args.out}")
    if args.plot is not None:
        from learner.watch.frontier_plot import plot_frontier
        plot_frontier(document, args.plot)
        stderr_line(f"wrote {args.plot}")
    print(text if args.json else table(document, args.places))


def register(sub) -> None:
    from learner.watch.frontier import DEFAULT_TEMPERATURES

    command = sub.add_parser("frontier", help="quality against diversity over a temperature sweep of runs")
    command.add_argument("runs", nargs="+", metavar="RUN_DIR",
                         help="run directories (folders or URIs) on one oracle or one corpus")
    command.add_argument("--temperatures", type=temperatures_arg, default=temperatures_arg(DEFAULT_TEMPERATURES),
                         metavar="LIST|START:STOP:STEP",
                         help=f"sampling temperatures τ > 0 (default {DEFAULT_TEMPERATURES}); τ = 1 is always swept")
    command.add_argument("--samples", type=samples_arg, default=DEFAULT_SAMPLES,
                         help=f"samples per run and τ (default {DEFAULT_SAMPLES})")
    command.add_argument("--seed", type=seed_int, default=0, help="the draws, those of `seqgan sample --seed`")
    command.add_argument("--checkpoint", choices=("final", "best"), default="final",
                         help="final: each run's latest checkpoint; best: the one after its best evaluation")
    command.add_argument("--baseline", default="mle",
                         help="the method whose τ = 1 diversity sets the level of equal diversity (default mle)")
    command.add_argument("--judge", metavar="RUN_DIR",
                         help="a run on the same data (an MLE run) whose generator scores every sample: lm_score, "
                              "the per-token NLL of the samples under it (lower: more like real data)")
    command.add_argument("--reverse-lm", action="store_true",
                         help="add reverse_lm: NLL-test of a fresh generator trained by MLE on the samples at each τ "
                              "(the run's sizes and train.mle_epochs: one training per run and τ)")
    command.add_argument("--workers", type=int_at_least(0, "a number of Ray workers >= 0"), default=0,
                         help="with --reverse-lm: its trainings as parallel Ray tasks on a local Ray of this many "
                              "CPUs (or the Ray already joined); 0 (default): one after another in this process")
    command.add_argument("--processes", type=positive_int, default=None,
                         help="processes sharing out each run's temperatures, one torch thread each (default: one "
                              "per usable core); the figures do not depend on it")
    command.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    command.add_argument("--out", metavar="FILE.json", help="also write the JSON document here")
    command.add_argument("--plot", metavar="FILE.png", help="draw the curves into this image (seqgan[watch])")
    command.add_argument("--mark", action="append", default=[], type=mark_arg, metavar="LABEL:KEY=V[,KEY=V]",
                         help="a published result drawn on the plot as a reference marker, e.g. "
                              "'Texygen MLE:bleu_5=0.189,self_bleu_5=0.408' (KEY: nll_oracle, nll_test, bleu_5, "
                              "self_bleu_5); a mark without the x axis's measure is drawn as a level; repeatable")
    command.add_argument("--places", type=int, default=3, choices=range(1, 10), metavar="1..9",
                         help="decimal places of the table (default 3)")
    command.set_defaults(func=cmd_frontier)
