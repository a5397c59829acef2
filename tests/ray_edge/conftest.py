"""Fixtures of the Ray tests: one local Ray at a time, and pools closed after each test.

Every Ray test talks to a real Ray (on 127.0.0.1). At most one Ray is up at a time: the local 2-CPU
Ray is started on demand by `ray_local` and shut down at the end of each module; the two-node test
shuts it down first and starts (and removes) its own `Cluster`.

The test process runs with the CPU actors' torch thread count (rollout.torch_threads = 1): on CPU
some small-batch kernels (conv, linear on fewer than ~16 rows) round differently with 1 and 2
threads, so bit-identity holds between equal thread counts (and 2 threads crawl on 2 busy cores).
"""
from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray")

from actors.ray_pool import RayPool  # noqa: E402
from ray_support import config_with, init_on_loopback  # noqa: E402


@pytest.fixture(autouse=True)
def actor_thread_count():
    """This process computes like a CPU rollout actor: rollout.torch_threads (1) torch threads."""
    saved = torch.get_num_threads()
    torch.set_num_threads(config_with().rollout.torch_threads)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module", autouse=True)
def _ray_down_after_module():
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def ray_local():
    """The module's local 2-CPU Ray (started on first use, or again after the cluster test)."""
    if not ray.is_initialized():
        init_on_loopback(num_cpus=2, include_dashboard=False)
    yield ray


@pytest.fixture
def pools():
    """Ray pools made by a test; closed (actors killed, CPUs freed) when it ends."""
    made: list[RayPool] = []
    yield made
    for pool in made:
        pool.close()
