"""A fault storm: an adversarial run on a local two-node cluster while a chaos thread kills rollout
actors at random, kills the learner once and removes a worker node. The run completes with the
records of a clean run (timings and fault counters aside), and every checkpoint on disk loads."""
from __future__ import annotations

import json
import random
import threading

import pytest
import torch

ray = pytest.importorskip("ray")

from learner.methods import method_for
from actors.inline_pool import InlinePool  # noqa: E402
from learner.run.checkpoint import ROOT, load_checkpoint  # noqa: E402
from learner.driver import Trainer  # noqa: E402
from learner.learner import Learner  # noqa: E402
from learner.threads import usable_cores  # noqa: E402
from learner.remote import ray_runtime  # noqa: E402
from learner.run.store import RunStore  # noqa: E402
from ray_support import SLOW_UNITS, config_with, init_on_loopback  # noqa: E402

STORM = [*SLOW_UNITS, "rollout.sample_unit=64", "rollout.timeout_s=120", "rollout.max_retries=20",
         "train.adv_iterations=6", "train.checkpoint_every=2"]
FAULT_COUNTERS = ("units_rerun", "version_lag_max", "learner_restarts")


def comparable(run) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time_") and k not in FAULT_COUNTERS} for r in records]


@pytest.fixture
def two_worker_nodes():
    """head (no CPUs: the driver) + two 2-CPU worker nodes, one of them doomed; the learner and the
    rollout actors land on either worker node."""
    from ray.cluster_utils import Cluster
    if ray.is_initialized():
        ray.shutdown()
    node_args = {"node_ip_address": "127.0.0.1", "object_store_memory": 100 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            **node_args})
    try:
        cluster.add_node(num_cpus=2, **node_args)
        doomed = cluster.add_node(num_cpus=2, **node_args)
        init_on_loopback(address=cluster.address)
        yield cluster, doomed
    finally:
        ray.shutdown()
        cluster.shutdown()


class Chaos:
    """Once the adversarial phase runs: kill rollout actors at random moments, the learner once and
    the doomed node once, in a random order from a fixed seed."""

    def __init__(self, cluster, doomed, learner, pool, run, seed: int = 0):
        self.cluster, self.doomed, self.learner, self.pool, self.run = cluster, doomed, learner, pool, run
        self.random = random.Random(seed)
        self.done: list[str] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.body, daemon=True)

    def adversarial_started(self) -> bool:
        path = self.run / "metrics.jsonl"
        return path.exists() and '"adv"' in path.read_text()

    def body(self) -> None:
        try:
            while not self.adversarial_started():
                if self.stop.wait(0.05):
                    return
            faults = ["actor", "actor", "learner", "node", "actor"]
            self.random.shuffle(faults)
            for fault in faults:
                if self.stop.wait(self.random.uniform(0.3, 1.5)):
                    return
                if fault == "actor":
                    ray.kill(self.random.choice(self.pool.actors), no_restart=False)
                elif fault == "learner":
                    ray.kill(self.learner.handle, no_restart=True)
                else:
                    self.cluster.remove_node(self.doomed)
                self.done.append(fault)
        except BaseException as error:  # reported by the test
            self.errors.append(error)


@pytest.mark.ray
def test_a_run_survives_a_fault_storm_with_the_records_of_a_clean_run(two_worker_nodes, tmp_path, capsys):
    cluster, doomed = two_worker_nodes
    config = config_with(*STORM, "rollout.num_workers=2")
    learner, pool = ray_runtime(config, local=False)
    chaos = Chaos(cluster, doomed, learner, pool, tmp_path / "storm")
    chaos.thread.start()
    try:
        summary = Trainer(config, tmp_path / "storm", learner, pool).train()
    finally:
        chaos.stop.set()
        chaos.thread.join(timeout=60)
        pool.close()
        ray.kill(learner.handle)
    assert not chaos.errors, chaos.errors
    assert sorted(chaos.done) == ["actor", "actor", "actor", "learner", "node"], chaos.done
    # the learner is killed once, and once more if (restarted or not) it lived on the doomed node
    warnings = capsys.readouterr().err
    losses = warnings.count("restarting it from")
    assert "killed by `ray.kill`" in warnings, warnings
    assert losses in (1, 2) and (losses == 1 or "node has died" in warnings), warnings
    assert summary.get("learner_restarts") == losses

    ray.shutdown()  # the clean reference runs inline, with the learner actor's thread count
    torch.set_num_threads(usable_cores())
    clean = config_with(*STORM)
    Trainer(clean, tmp_path / "clean", Learner(clean), InlinePool(clean, method_for(clean))).train()
    torch.set_num_threads(1)
    assert comparable(tmp_path / "storm") == comparable(tmp_path / "clean")

    run = RunStore(tmp_path / "storm")
    names = run.folders(ROOT)
    assert names, "no checkpoints on disk"
    for name in names:  # every checkpoint on disk is whole
        assert load_checkpoint(run, name).progress["steps_done"] == int(name.split("-")[1])
