"""How many torch threads the learner runs with: CPU kernels round by the thread count, so a run
repeats bit for bit only with the same count (summary.json records it)."""
from __future__ import annotations

import os

from seqgan.config import AUTO, Config


def usable_cores() -> int:
    """The cores this process may run on: `taskset` and container CPU sets narrow it below
    os.cpu_count(), and a thread per unusable core only adds contention."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def learner_threads(config: Config) -> int:
    """learner.torch_threads, or the cores this process may run on when it is auto."""
    threads = config.learner.torch_threads
    return usable_cores() if threads == AUTO else threads
