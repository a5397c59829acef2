"""The `seqgan` command: one parser, with each command family in its own module (learner/commands/)."""
from __future__ import annotations

import argparse
import sys

from learner.commands import bench, generate, oracle, train
from seqgan.allocator import reuse_freed_memory
from seqgan.config import ConfigError

COMMAND_FAMILIES = (train, generate, oracle, bench)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqgan", description="Distributed SeqGAN trainer")
    sub = p.add_subparsers(dest="command", required=True)
    for family in COMMAND_FAMILIES:
        family.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reuse_freed_memory()  # inline rollouts and the local learner run in this process
    try:
        args.func(args)
    except (ConfigError, OSError, ValueError) as error:  # OSError: paths (missing, a folder, no permission)
        print(f"seqgan: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
