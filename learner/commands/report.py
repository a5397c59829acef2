"""`seqgan report RUN_DIR... [--by-method]`: a markdown table of best and final NLL-oracle or BLEU per
run, and of each method's mean over its seeds."""
from __future__ import annotations


def cmd_report(args) -> None:
    from learner.watch.report import report

    frontier = None
    if args.frontier is not None and not args.by_method:
        raise ValueError("--frontier adds columns to the --by-method table: give --by-method too")
    if args.frontier is not None:
        from learner.watch.frontier import read_frontier
        frontier = read_frontier(args.frontier)
    print(report(args.runs, args.places, args.by_method, frontier))


def register(sub) -> None:
    report = sub.add_parser("report", help="markdown table of best and final NLL-oracle (or BLEU) per run")
    report.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (folders or URIs), a row each")
    report.add_argument("--places", type=int, default=3, choices=range(1, 10), metavar="1..9",
                        help="decimal places (default 3)")
    report.add_argument("--by-method", action="store_true",
                        help="then a table of each method's mean ± standard deviation over its runs (seeds)")
    report.add_argument("--frontier", metavar="FILE.json",
                        help="with --by-method: each method's quality at equal diversity and the curves it beats, "
                             "from `seqgan frontier --out FILE.json`")
    report.set_defaults(func=cmd_report)
