"""How many torch threads the learner runs with: CPU kernels round by the thread count, so a run
repeats bit for bit only with the same count (summary.json records it)."""
from __future__ import annotations

from actors.inline_pool import usable_cores
from seqgan.config import AUTO, Config


def learner_threads(config: Config) -> int:
    """learner.torch_threads, or the cores this process may run on when it is auto."""
    threads = config.learner.torch_threads
    return usable_cores() if threads == AUTO else threads
