"""The `seqgan` command: one parser, with each command family in its own module (learner/commands/)."""
from __future__ import annotations

import argparse
import signal
import sys

from learner.commands import bench, corpus, frontier, generate, jobs, oracle, plot, report, sweep, text, train
from learner.stopping import RunFailed, StopRequested
from seqgan.allocator import reuse_freed_memory
from seqgan.config import ConfigError

COMMAND_FAMILIES = (train, sweep, jobs, generate, corpus, oracle, bench, plot, report, frontier, text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqgan", description="Distributed SeqGAN trainer")
    sub = p.add_subparsers(dest="command", required=True)
    for family in COMMAND_FAMILIES:
        family.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reuse_freed_memory()  # inline rollouts and the local learner run in this process
    return run_command(args)


def run_command(args) -> int:
    """The command's exit status: 0, or the error's, with its message on stderr."""
    try:
        args.func(args)
    except (ConfigError, OSError, ValueError) as error:  # OSError: paths (missing, a folder, no permission)
        print(f"seqgan: error: {error}", file=sys.stderr)
        return 2
    except RunFailed as error:
        print(f"seqgan: error: {error}", file=sys.stderr)
        return 1
    except FloatingPointError as error:  # a non-finite loss or metric: the run stops, its checkpoints stay
        print(f"seqgan: error: {error}", file=sys.stderr)
        return 3
    except StopRequested as stop:
        print(f"seqgan: {stop}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt as interrupt:  # at once: a second stop request, or SIGTERM/Ctrl-C outside training
        advice = getattr(interrupt, "advice", "")
        print("seqgan: interrupted" + (f"; {advice}" if advice else ""), file=sys.stderr)
        return 128 + getattr(interrupt, "signum", signal.SIGINT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
