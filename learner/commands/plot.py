"""`seqgan plot`: learning curves of one or more runs in an image file (learner/watch/plot.py)."""
from __future__ import annotations

from learner.commands.common import new_output


def cmd_plot(args) -> None:
    from learner.watch.plot import plot_runs

    new_output(args.out)
    plot_runs(args.runs, args.out)
    print(f"wrote {args.out}")


def register(sub) -> None:
    plot = sub.add_parser("plot", help="learning curves of runs: NLL-oracle, NLL-test, D's held-out accuracy")
    plot.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (folders or URIs), one curve each")
    plot.add_argument("--out", required=True, help="image file to write (e.g. curves.png)")
    plot.set_defaults(func=cmd_plot)
