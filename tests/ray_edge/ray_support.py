"""What the Ray tests share: configs, starting Ray on 127.0.0.1, and the driver's sampling and
reward computation run against any pool (the fixtures are in conftest.py)."""
from __future__ import annotations

import threading
import time

import pytest
import torch

ray = pytest.importorskip("ray")

from learner.methods import method_for
from actors.inline_pool import InlinePool  # noqa: E402
from actors.ray_pool import RayPool  # noqa: E402
from actors.sync import MODELS  # noqa: E402
from learner.learner import Learner  # noqa: E402
from rewards.units import assemble_rewards, batch_reward_units, split_samples  # noqa: E402
from seqgan.config_files import load_config
from seqgan.endings import past_end  # noqa: E402

SMOKE = "deploy/configs/smoke.yaml"
# Many small units so that 2 actors share the work (24 reward units, 4 sample units), and a
# bounded wait so that a hang fails the test instead of hanging it (long enough for actors that a
# busy machine starves: Ray runs them at a lower priority).
UNITS = ["rollout.unit_samples=8", "rollout.unit_prefixes=3", "rollout.unit_rollouts=2",
         "rollout.sample_unit=8", "rollout.timeout_s=180"]
# Slow units: one rollout per unit and a chunk of one sequence, so each of a unit's 8 x 9
# completions is made and scored on its own; a unit takes tens of milliseconds, so a kill issued
# while a unit is in flight lands before that unit finishes.
SLOW_UNITS = ["rollout.unit_samples=8", "rollout.unit_prefixes=9", "rollout.unit_rollouts=1",
              "rollout.chunk_tokens=10", "rollout.sample_unit=8", "rollout.timeout_s=60"]
# Auto sizes (the defaults; the smoke preset sets its own) with enough rollouts that a batch makes
# 4 units of 16 samples x 5 prefixes x 16 rollouts on a CPU (seqgan/sizing.py).
AUTO_UNITS = ["rollout.unit_samples=auto", "rollout.unit_prefixes=auto", "rollout.unit_rollouts=auto",
              "rollout.chunk_tokens=auto", "rollout.num_rollouts=16", "rollout.sample_unit=8",
              "rollout.timeout_s=180"]
NOT_COMPARABLE = ("units_rerun", "version_lag_max")  # Ray-only pool stats


def config_with(*overrides: str):
    return load_config(SMOKE, ["rollout.num_workers=0", *overrides])


def init_on_loopback(**kwargs) -> None:
    """ray.init bound to 127.0.0.1 (conftest sets Ray's loopback switch before ray is imported)."""
    kwargs.setdefault("address", "local")  # our own cluster, never one `ray start` left on the machine
    ray.init(_node_ip_address="127.0.0.1", log_to_driver=False, **kwargs)
    addresses = {n["NodeManagerAddress"] for n in ray.nodes()}
    assert addresses == {"127.0.0.1"}, f"Ray is not bound to 127.0.0.1 only: {addresses}"
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def ray_pool(pools: list, config, num_workers: int) -> RayPool:
    config.rollout.num_workers = num_workers
    pool = RayPool(config, method_for(config))
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


def reward_units(config, samples: torch.Tensor, step: int = 0, device_kind: str = "cpu"):
    return batch_reward_units(config, device_kind, len(samples), step)


def compute_rewards(pool, config, learner: Learner, samples: torch.Tensor, step: int = 0):
    units = reward_units(config, samples, step, pool.device_kind)
    results = pool.run(units, samples)
    assert [r.unit_index for r in results] == [u.index for u in units]
    rewards = assemble_rewards(units, [x.value for x in results], learner.real_prob(samples),
                               samples.shape[1], config.rollout.num_rollouts,
                               past_end(samples, config.model.end_token))
    return rewards, results


def inline_reference(config, learner: Learner, step: int = 0):
    """(samples, rewards) of the inline pool: the ground truth the Ray pools must reproduce."""
    pool = InlinePool(config, method_for(config))
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


def inline_pool_with(config, learner: Learner) -> InlinePool:
    pool = InlinePool(config, method_for(config))
    publish_all(pool, learner)
    return pool
