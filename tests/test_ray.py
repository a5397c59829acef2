"""The Ray edge: K actors give the inline results bit for bit, whatever happens to the actors.

Every test here talks to a real Ray (on 127.0.0.1). At most one Ray is up at a time: the local
2-CPU Ray is started on demand by `ray_local` and shut down at the end of the module, and the
two-node test shuts it down first and starts (and removes) its own `Cluster`.

This process runs with the CPU actors' torch thread count (rollout.torch_threads = 1): on CPU some
small-batch kernels (conv, linear on fewer than ~16 rows) round differently with 1 and 2 threads,
so bit-identity holds between equal thread counts (and 2 threads crawl on 2 busy cores). The
Trainer test runs its inline learner with the learner actor's thread count instead.
"""
from __future__ import annotations

import json
import os
import threading
import time

import pytest
import torch

ray = pytest.importorskip("ray")

from actors.inline_pool import InlinePool  # noqa: E402
from actors.ray_pool import RayPool  # noqa: E402
from actors.worker import MODELS, RolloutWorker  # noqa: E402
from learner.learner import Learner  # noqa: E402
from rewards.units import assemble_rewards, split_rewards, split_samples  # noqa: E402
from seqgan.config import load_config  # noqa: E402

SMOKE = "deploy/configs/smoke.yaml"
# Many small units so that 2 actors share the work (24 reward units, 4 sample units), and a
# bounded wait so that a hang fails the test instead of hanging it.
UNITS = ["rollout.unit_samples=8", "rollout.unit_prefixes=3", "rollout.unit_rollouts=2",
         "rollout.sample_unit=8", "rollout.timeout_s=60"]
# Slow units (D scores one completion per call): a unit takes tens of milliseconds, so a kill
# issued while a unit is in flight lands before that unit finishes.
SLOW_UNITS = ["rollout.unit_samples=4", "rollout.unit_prefixes=3", "rollout.unit_rollouts=4",
              "rollout.chunk_tokens=1", "rollout.sample_unit=8", "rollout.timeout_s=60"]
NOT_COMPARABLE = ("actor_restarts", "version_lag_max")  # Ray-only pool stats


def config_with(*overrides: str):
    return load_config(SMOKE, ["rollout.num_workers=0", *overrides])


@pytest.fixture(autouse=True)
def actor_thread_count():
    """This process computes like a CPU rollout actor: rollout.torch_threads (1) torch threads."""
    saved = torch.get_num_threads()
    torch.set_num_threads(config_with().rollout.torch_threads)
    yield
    torch.set_num_threads(saved)


# -- Ray lifecycle: never two clusters at once -----------------------------------------------
def init_on_loopback(**kwargs) -> None:
    """ray.init bound to 127.0.0.1 (conftest sets Ray's loopback switch before ray is imported)."""
    ray.init(_node_ip_address="127.0.0.1", log_to_driver=False, **kwargs)
    addresses = {n["NodeManagerAddress"] for n in ray.nodes()}
    assert addresses == {"127.0.0.1"}, f"Ray is not bound to 127.0.0.1 only: {addresses}"
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def _start_local_ray() -> None:
    init_on_loopback(num_cpus=2, include_dashboard=False)


@pytest.fixture(scope="module", autouse=True)
def _ray_down_after_module():
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def ray_local():
    """The module's local 2-CPU Ray (started on first use, or again after the cluster test)."""
    if not ray.is_initialized():
        _start_local_ray()
    yield ray


@pytest.fixture
def pools():
    """Ray pools made by a test; closed (actors killed, CPUs freed) when it ends."""
    made: list[RayPool] = []
    yield made
    for pool in made:
        pool.close()


def ray_pool(pools: list, config, num_workers: int) -> RayPool:
    config.rollout.num_workers = num_workers
    pool = RayPool(config)
    pools.append(pool)
    return pool


# -- one sampling and one reward computation, as the driver does them ---------------------------
def publish_all(pool, learner: Learner) -> dict[str, int]:
    for name in MODELS:
        pool.publish(name, *learner.publish(name))
    return dict(learner.versions)


def sample_batch(pool, config, key: int = 0):
    units = split_samples(config.data.batch_size, config.rollout.sample_unit, config.train.seed, "pg_batch", key)
    results = pool.run(units)
    assert [r.unit_index for r in results] == [u.index for u in units]
    return torch.cat([r.value for r in results]), results


def reward_units(config, samples: torch.Tensor, step: int = 0):
    r, (batch, seq_len) = config.rollout, samples.shape
    return split_rewards(batch, seq_len, r.num_rollouts, r.unit_samples, r.unit_prefixes, r.unit_rollouts,
                         config.train.seed, step)


def compute_rewards(pool, config, learner: Learner, samples: torch.Tensor, step: int = 0):
    units = reward_units(config, samples, step)
    results = pool.run(units, samples)
    assert [r.unit_index for r in results] == [u.index for u in units]
    rewards = assemble_rewards(units, [x.value for x in results], learner.real_prob(samples),
                               samples.shape[1], config.rollout.num_rollouts)
    return rewards, results


def inline_reference(config, learner: Learner, step: int = 0):
    """(samples, rewards) of the inline pool: the ground truth the Ray pools must reproduce."""
    pool = InlinePool(config)
    publish_all(pool, learner)
    samples, _ = sample_batch(pool, config)
    rewards, _ = compute_rewards(pool, config, learner, samples, step)
    return samples, rewards


class SubmissionSpy:
    """Stands in for one actor handle in `pool.actors` and tells when the pool has handed that
    actor its n-th unit, so a fault can be injected while a unit is surely in flight."""

    def __init__(self, handle, after: int):
        self.handle, self.after, self.calls = handle, after, 0
        self.in_flight = threading.Event()
        spy = self

        class _Run:
            @staticmethod
            def remote(*args, **kwargs):
                ref = spy.handle.run.remote(*args, **kwargs)
                spy.calls += 1
                if spy.calls >= spy.after:
                    spy.in_flight.set()
                return ref

        self.run = _Run()

    def __getattr__(self, name):
        return getattr(self.handle, name)


def pid_once_up(actor, timeout_s: float = 60.0) -> int:
    """The actor's pid, once it answers (a restarting actor fails calls until it is back)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return ray.get(actor.pid.remote(), timeout=timeout_s)
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def fault_when_in_flight(spy: SubmissionSpy, fault, delay_s: float = 0.01):
    """A background thread that runs `fault()` once `spy`'s actor has a unit in flight."""
    errors: list[BaseException] = []

    def body():
        try:
            if spy.in_flight.wait(timeout=60):
                time.sleep(delay_s)
                fault()
        except BaseException as error:  # surfaced by the test
            errors.append(error)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, errors


def rewards_under_fault(pool, config, learner, samples, fault):
    """Compute rewards while `fault` strikes once actor 0 has its second unit in flight."""
    victim = pool.actors[0]
    spy = pool.actors[0] = SubmissionSpy(victim, after=2)
    thread, errors = fault_when_in_flight(spy, fault)
    try:
        rewards, results = compute_rewards(pool, config, learner, samples)
    finally:
        thread.join(timeout=60)
        pool.actors[0] = victim
    assert not errors, errors
    return rewards, results, spy


# -- 1. K = 0, 1, 2 -----------------------------------------------------------------------------
@pytest.mark.ray
def test_zero_one_and_two_workers_give_identical_samples_and_rewards(ray_local, pools):
    config = config_with(*UNITS)
    learner = Learner(config)
    real = torch.randint(0, config.model.vocab_size, (64, config.model.seq_len),
                         generator=torch.Generator().manual_seed(0))
    learner.load_real_data(real, real[:16])
    learner.mle_epoch(0)
    learner.pg_step(*_pg_batch(learner, config))  # G now differs from the rollout policy
    want_samples, want_rewards = inline_reference(config, learner, step=3)
    assert len(reward_units(config, want_samples)) >= 2 * 2  # enough units to spread over 2 actors

    for k in (1, 2):
        pool = ray_pool(pools, config_with(*UNITS), k)
        publish_all(pool, learner)
        samples, _ = sample_batch(pool, config)
        rewards, _ = compute_rewards(pool, config, learner, samples, step=3)
        assert torch.equal(samples, want_samples), f"K={k}: samples differ from K=0"
        assert torch.equal(rewards, want_rewards), f"K={k}: rewards differ from K=0"
        # Every actor did work: an actor syncs all published weights when it runs a unit.
        versions = [ray.get(actor.versions.remote()) for actor in pool.actors]
        assert all(v == learner.versions for v in versions), versions
        pools.remove(pool)
        pool.close()  # frees its CPUs for the next pool (the local Ray has 2)
    # A different reward step uses different draws: equal rewards above are not a coincidence.
    other, _ = compute_rewards(inline_pool_with(config, learner), config, learner, want_samples, step=4)
    assert not torch.equal(other, want_rewards)


def _pg_batch(learner: Learner, config):
    pool = InlinePool(config)
    publish_all(pool, learner)
    samples, _ = sample_batch(pool, config, key=99)
    return samples, torch.rand(samples.shape, generator=torch.Generator().manual_seed(1))


def inline_pool_with(config, learner: Learner) -> InlinePool:
    pool = InlinePool(config)
    publish_all(pool, learner)
    return pool


# -- 2. the whole algorithm, inline and on Ray ------------------------------------------------------
def _comparable_metrics(run_dir) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time_") and k not in NOT_COMPARABLE}
            for r in records]


@pytest.mark.ray
def test_trainer_metrics_inline_equal_metrics_on_ray(ray_local, tmp_path):
    from learner.driver import Trainer
    from learner.remote import ray_runtime

    # Inline: learner and worker in this process, with the learner actor's thread count (D's
    # training rounds differently with 1 and 2 threads; the smoke shapes' rollouts do not).
    inline_config = config_with("rollout.sample_unit=64", "rollout.timeout_s=120")
    torch.set_num_threads(os.cpu_count() or 1)  # as learner.remote.LearnerActor
    Trainer(inline_config, tmp_path / "inline", Learner(inline_config), InlinePool(inline_config)).train()

    ray_config = config_with("rollout.sample_unit=64", "rollout.timeout_s=120", "rollout.num_workers=2")
    learner, pool = ray_runtime(ray_config)
    try:
        Trainer(ray_config, tmp_path / "ray", learner, pool).train()
        ray_records = [json.loads(line) for line in (tmp_path / "ray" / "metrics.jsonl").read_text().splitlines()]
        assert any("actor_restarts" in r for r in ray_records)  # the Ray pool did report its stats
    finally:
        pool.close()
        ray.kill(learner.handle)

    inline, on_ray = _comparable_metrics(tmp_path / "inline"), _comparable_metrics(tmp_path / "ray")
    assert [r["phase"] for r in inline] == ["mle"] * 4 + ["disc"] * 2 + ["adv"] * 3
    assert inline == on_ray


# -- 3. stale weights are ignored --------------------------------------------------------------------
def _packs_at(learner: Learner, version: int) -> dict:
    learner.versions = {name: version for name in MODELS}
    return {name: learner.pack(name) for name in MODELS}


@pytest.mark.ray
def test_a_stale_weight_version_is_ignored(ray_local, pools):
    config = config_with(*UNITS)
    old, new = Learner(config_with(*UNITS, "train.seed=1")), Learner(config)
    v0, v1 = _packs_at(old, 0), _packs_at(new, 1)

    # The worker itself: older and equal versions are refused, the held weights stay.
    worker = RolloutWorker(config)
    for name in MODELS:
        assert worker.set_weights(v1[name]) is True
        before = {k: t.clone() for k, t in worker.models[name].state_dict().items()}
        assert worker.set_weights(v0[name]) is False
        assert worker.set_weights(v1[name]) is False
        after = worker.models[name].state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
    assert worker.versions == {name: 1 for name in MODELS}

    want_samples, want_rewards = inline_reference(config, new)
    _, v0_rewards = inline_reference(config, old)
    assert not torch.equal(v0_rewards, want_rewards)  # v0 really is different weights

    pool = ray_pool(pools, config_with(*UNITS), 1)
    (actor,) = pool.actors
    for name in MODELS:
        pool.publish(name, 1, v1[name])
    samples, _ = sample_batch(pool, config)  # the actor fetches v1
    assert ray.get(actor.versions.remote()) == {name: 1 for name in MODELS}
    for name in MODELS:
        assert ray.get(actor.set_weights.remote(v0[name])) is False
    assert ray.get(actor.versions.remote()) == {name: 1 for name in MODELS}

    samples, sample_results = sample_batch(pool, config)
    rewards, reward_results = compute_rewards(pool, config, new, samples)
    assert torch.equal(samples, want_samples) and torch.equal(rewards, want_rewards)
    assert all(r.versions == {"generator": 1} for r in sample_results)
    assert all(r.versions == {"rollout": 1, "discriminator": 1} for r in reward_results)


# -- 4. every result names the versions it was computed with ---------------------------------------------
@pytest.mark.ray
def test_every_result_carries_the_published_versions(ray_local, pools):
    config = config_with(*UNITS)
    learner = Learner(config)
    learner.versions = {"generator": 3, "rollout": 5, "discriminator": 8}
    pool = ray_pool(pools, config_with(*UNITS), 2)
    inline = InlinePool(config)
    for p in (pool, inline):
        publish_all(p, learner)

    samples, sample_results = sample_batch(pool, config)
    rewards, reward_results = compute_rewards(pool, config, learner, samples)
    assert len(sample_results) > 1 and len(reward_results) > 2
    assert all(r.versions == {"generator": 3} for r in sample_results)
    assert all(r.versions == {"rollout": 5, "discriminator": 8} for r in reward_results)

    # New versions with new weights: the next results carry them and were computed with them.
    learner.pg_step(samples, rewards)  # G v4
    learner.update_rollout_policy()  # rollout v6 = the new G
    learner.load_real_data(samples, samples)
    learner.train_discriminator(torch.randint(0, config.model.vocab_size, samples.shape), 0)  # D v9
    for p in (pool, inline):
        publish_all(p, learner)
    samples2, sample_results = sample_batch(pool, config, key=1)
    rewards2, reward_results = compute_rewards(pool, config, learner, samples2, step=1)
    assert all(r.versions == {"generator": 4} for r in sample_results)
    assert all(r.versions == {"rollout": 6, "discriminator": 9} for r in reward_results)
    want_samples, _ = sample_batch(inline, config, key=1)
    want_rewards, _ = compute_rewards(inline, config, learner, want_samples, step=1)
    assert torch.equal(samples2, want_samples) and torch.equal(rewards2, want_rewards)


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
    assert pool.restarts >= 1, "the kill did not hit a unit in flight"
    assert pool.stats()["actor_restarts"] == pool.restarts
    assert torch.equal(rewards, want)
    assert all(r.versions == {"rollout": 0, "discriminator": 0} for r in results)
    assert pid_once_up(victim) != victim_pid  # Ray restarted it
    # The next iteration: the restarted actor (a fresh worker) re-syncs the published weights
    # from the object store and computes its units like the others.
    _, want_next = inline_reference(config, learner, step=1)
    rewards_next, _ = compute_rewards(pool, config, learner, samples, step=1)
    assert torch.equal(rewards_next, want_next)
    assert [ray.get(actor.versions.remote()) for actor in pool.actors] == [learner.versions] * 2


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
        assert pool.restarts == 1  # the one unit that was on actor 0
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
    assert pool.restarts >= 1, "the node removal did not hit a unit in flight"
    assert torch.equal(rewards, want)
    assert all(r.versions == {"rollout": 0, "discriminator": 0} for r in results)
    # The actors now live on the survivor (new processes).
    new_pids = [pid_once_up(actor) for actor in pool.actors]
    assert not set(new_pids) & set(pids)
