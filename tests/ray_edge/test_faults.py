"""The Ray edge under faults: a killed actor, an actor that cannot come back in time, a unit that
can never run, and a node removed mid-iteration. Each ends with the inline rewards or a clear error."""
from __future__ import annotations

import threading
import time

import pytest
import torch

ray = pytest.importorskip("ray")

from learner.learner import Learner  # noqa: E402
from ray_support import (SLOW_UNITS, UNITS, SubmissionSpy, compute_rewards, config_with,  # noqa: E402
                         fault_when_in_flight, init_on_loopback, inline_reference, pid_once_up, publish_all,
                         ray_pool, reward_units, rewards_under_fault)


# -- 5. an actor killed mid-iteration ----------------------------------------------------------------
@pytest.mark.ray
def test_killing_an_actor_mid_iteration_gives_the_same_rewards(ray_local, pools):
    config = config_with(*SLOW_UNITS)
    learner = Learner(config)
    samples, want = inline_reference(config, learner)

    pool = ray_pool(pools, config_with(*SLOW_UNITS), 2)
    publish_all(pool, learner)
    victim_pid, _ = ray.get([actor.pid.remote() for actor in pool.actors])  # both up before the run
    victim = pool.actors[0]
    rewards, results, spy = rewards_under_fault(pool, config, learner, samples,
                                                lambda: ray.kill(victim, no_restart=False))
    assert spy.in_flight.is_set()
    assert pool.units_rerun >= 1, "the kill did not hit a unit in flight"
    assert pool.stats()["units_rerun"] == pool.units_rerun
    assert torch.equal(rewards, want)
    assert all(r.versions == {"rollout": 0, "discriminator": 0} for r in results)
    assert pid_once_up(victim) != victim_pid  # Ray restarted it
    # The next iteration: the restarted actor (a fresh worker) re-syncs the published weights
    # from the object store and computes its units like the others.
    _, want_next = inline_reference(config, learner, step=1)
    rewards_next, _ = compute_rewards(pool, config, learner, samples, step=1)
    assert torch.equal(rewards_next, want_next)
    # Both hold the current rollout policy and D (an actor fetches only the models its units use).
    used = {name: learner.versions[name] for name in ("rollout", "discriminator")}
    assert [{n: ray.get(a.versions.remote())[n] for n in used} for a in pool.actors] == [used] * 2


@ray.remote(num_cpus=1)
class CpuSquatter:
    def ping(self) -> int:
        return 1


@pytest.mark.ray
def test_a_slowly_restarting_actor_neither_holds_its_unit_nor_uses_up_its_retries(ray_local, pools):
    """Actor 0 dies while another actor, queued before its restart, takes its CPU: actor 0 cannot
    come back during the iteration. Its unit is re-run once, by actor 1, and the iteration ends
    without actor 0 (max_retries=1: re-sending the unit to the restarting actor would fail it)."""
    overrides = [*SLOW_UNITS, "rollout.num_rollouts=16", "rollout.max_retries=1"]
    config = config_with(*overrides)
    learner = Learner(config)
    samples, want = inline_reference(config, learner)

    pool = ray_pool(pools, config_with(*overrides), 2)
    publish_all(pool, learner)
    ray.get([actor.pid.remote() for actor in pool.actors])
    squatter = CpuSquatter.remote()  # pending: both CPUs are the actors'
    victim = pool.actors[0]
    spy = pool.actors[0] = SubmissionSpy(victim, after=2)

    def fault():
        ray.kill(victim, no_restart=False)
        ray.get(squatter.ping.remote(), timeout=30)  # the squatter has actor 0's CPU

    thread, errors = fault_when_in_flight(spy, fault)
    try:
        rewards, results = compute_rewards(pool, config, learner, samples)
        thread.join(timeout=60)
        assert not errors, errors
        assert pool.units_rerun == 1  # the one unit that was on actor 0
        assert torch.equal(rewards, want)
    finally:
        thread.join(timeout=60)
        pool.actors[0] = victim
        ray.kill(squatter)


# -- 7. a unit that can never run ------------------------------------------------------------------------
@pytest.mark.ray
def test_a_unit_that_can_never_run_times_out(ray_local, pools):
    config = config_with(*UNITS)
    learner = Learner(config)
    # No GPU on this cluster: the actors can never be placed, so no unit ever finishes.
    pool = ray_pool(pools, config_with(*UNITS, "rollout.timeout_s=2", "rollout.num_gpus=1"), 2)
    publish_all(pool, learner)
    samples = torch.zeros(config.data.batch_size, config.model.seq_len, dtype=torch.long)
    outcome: list[BaseException | object] = []

    def run():  # in a thread, so that a pool that waits forever fails this test instead of hanging it
        try:
            outcome.append(pool.run(reward_units(config, samples), samples))
        except BaseException as error:
            outcome.append(error)

    start = time.monotonic()
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert outcome, "pool.run still waiting after 30 s with rollout.timeout_s=2"
    assert time.monotonic() - start >= 2
    (error,) = outcome
    assert isinstance(error, TimeoutError), error
    assert "rollout.timeout_s=2" in str(error)


# -- 6. two nodes, one removed mid-iteration ---------------------------------------------------------------
@pytest.fixture
def two_node_cluster():
    """head (no CPUs: hosts no actors) + a 2-CPU worker node; the test adds a second worker later.

    Runs on its own: the module's local Ray is shut down first."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    node_args = {"node_ip_address": "127.0.0.1", "object_store_memory": 100 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            **node_args})
    try:
        doomed = cluster.add_node(num_cpus=2, **node_args)
        init_on_loopback(address=cluster.address)
        yield cluster, doomed, node_args
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.ray
def test_removing_a_node_mid_iteration_completes_on_the_other_node(two_node_cluster, pools):
    cluster, doomed, node_args = two_node_cluster
    assert all(n["NodeManagerAddress"] == "127.0.0.1" for n in ray.nodes())
    config = config_with(*SLOW_UNITS)
    learner = Learner(config)
    samples, want = inline_reference(config, learner)

    pool = ray_pool(pools, config_with(*SLOW_UNITS), 2)
    publish_all(pool, learner)
    pids = ray.get([actor.pid.remote() for actor in pool.actors], timeout=60)  # both on `doomed`
    survivor = cluster.add_node(num_cpus=2, **node_args)
    cluster.wait_for_nodes()
    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert {doomed.node_id, survivor.node_id} <= alive

    rewards, results, _ = rewards_under_fault(pool, config, learner, samples,
                                              lambda: cluster.remove_node(doomed))
    assert doomed.node_id not in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert pool.units_rerun >= 1, "the node removal did not hit a unit in flight"
    assert torch.equal(rewards, want)
    assert all(r.versions == {"rollout": 0, "discriminator": 0} for r in results)
    # The actors now live on the survivor (new processes).
    new_pids = [pid_once_up(actor) for actor in pool.actors]
    assert not set(new_pids) & set(pids)
