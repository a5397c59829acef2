"""The Ray edge of the learner side: the Learner as an actor (on a GPU when configured), a proxy
that calls it like a local object, and joining or starting a Ray cluster."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading

import ray
import torch
from ray.exceptions import RayActorError, RayTaskError

from actors.ray_pool import RayPool
from learner.learner import Learner
from learner.methods import method_for
from learner.reaper import start_reaper
from learner.stopping import LearnerLost
from learner.threads import learner_threads
from seqgan.allocator import reuse_freed_memory
from seqgan.config import Config


class LearnerActor(Learner):
    def __init__(self, config: Config):
        reuse_freed_memory()
        if config.learner.num_gpus == 0:
            torch.set_num_threads(learner_threads(config))  # the learner runs while the actors wait
        super().__init__(config)


class RemoteLearner:
    """Calls the learner actor synchronously, for the methods of learner.role.LearnerRole only;
    `publish` returns the packed weights as an object ref, so the driver never downloads them. A
    call whose actor died raises LearnerLost; `restart` starts a fresh actor (the driver then
    restores it from the latest checkpoint)."""

    def __init__(self, config: Config):
        self.config = config
        self.handle = self._start()

    def _start(self):
        actor_class = ray.remote(LearnerActor).options(num_cpus=self.config.learner.num_cpus,
                                                       num_gpus=self.config.learner.num_gpus)
        handle = actor_class.remote(self.config)
        try:  # started before anything is written: bad input fails here, as it does inline
            ray.get(handle.__ray_ready__.remote())
        except RayActorError as error:
            if not error.actor_init_failed:  # it died while starting (its node went away, say)
                raise LearnerLost(" ".join(str(error).split())[:300]) from error
            reason = next(line for line in reversed(str(error).splitlines()) if line.strip())
            raise ValueError(f"the learner actor could not start: {reason.strip()}") from None
        return handle

    def restart(self) -> None:
        ray.kill(self.handle, no_restart=True)
        self.handle = self._start()

    def _get(self, refs):
        try:
            return ray.get(refs)
        except RayActorError as error:
            raise LearnerLost(" ".join(str(error).split())[:300]) from error
        except RayTaskError as error:  # the learner raised: the same error as inline, without Ray's wrapping
            raise error.cause from None

    def publish(self, name: str):
        version_ref, packed_ref = self.handle.publish.options(num_returns=2).remote(name)
        return self._get(version_ref), packed_ref

    def _call(self, method: str, *args):
        return self._get(getattr(self.handle, method).remote(*args))

    # -- the rest of learner.role.LearnerRole, forwarded ----------------------------------------
    def load_real_data(self, train: torch.Tensor, test: torch.Tensor) -> None:
        self._call("load_real_data", train, test)

    def continue_versions(self, published: dict[str, int]) -> None:
        self._call("continue_versions", published)

    def mle_epoch(self, epoch: int, keep: float = 1.0) -> float:
        return self._call("mle_epoch", epoch, keep)

    def pg_step(self, samples: torch.Tensor, rewards: torch.Tensor, step: int | None = None) -> float:
        return self._call("pg_step", samples, rewards, step)

    def update_rollout_policy(self) -> None:
        self._call("update_rollout_policy")

    def train_discriminator(self, negatives: torch.Tensor, key: int) -> dict:
        return self._call("train_discriminator", negatives, key)

    def final_rewards(self, samples: torch.Tensor) -> torch.Tensor:
        return self._call("final_rewards", samples)

    def disc_heldout(self, negatives: torch.Tensor) -> dict:
        return self._call("disc_heldout", negatives)

    def nll_test(self) -> float:
        return self._call("nll_test")

    def state(self) -> dict:
        return self._call("state")

    def load_state(self, state: dict) -> None:
        self._call("load_state", state)

    def torch_threads(self) -> int:
        return self._call("torch_threads")


def connect(config: Config, address: str | None) -> bool:
    """Join a cluster (argument, config, RAY_ADDRESS or the job's) or start a local one.

    Returns True when this process started Ray (and must shut it down)."""
    if ray.is_initialized():
        return False
    named = [(value, where) for value, where in ((address, "--address"), (config.ray.address, "ray.address"),
                                                 (os.environ.get("RAY_ADDRESS"), "RAY_ADDRESS")) if value]
    if named:
        address, where = named[0]
        require_reachable(address, where)
        ray.init(address=address)
        return False
    start_reaper()  # ends the local cluster's processes even if this process is SIGKILLed
    # Ctrl-C goes to the terminal's whole process group: the cluster's processes ignore it, so a
    # stop request can finish its step and checkpoint while Ray still runs.
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
    try:
        # address="local": a new cluster of our own. Without it Ray joins any cluster that `ray start`
        # left running on this machine (it reads /tmp/ray/ray_current_cluster).
        ray.init(address="local", num_cpus=config.ray.num_cpus, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=True)
    finally:
        if saved is not None:
            signal.signal(signal.SIGINT, saved)
    return True


REACH_TIMEOUT_S = 10.0  # a head that accepts no connection in this long is not there


def require_reachable(address: str, where: str) -> None:
    """Fail now, naming the address, when nothing listens at a HOST:PORT (or ray://HOST:PORT)
    cluster address: ray.init would retry it for minutes. Other forms (auto) Ray checks itself."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__  # socket.timeout has no strerror
        raise ConnectionError(f"cannot reach the Ray cluster at {address} ({where}): {reason}; start its head "
                              "(ray start --head) or give the address of a running one") from None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def ray_session(config: Config, address: str | None):
    """Connected to Ray for the block: the learner actor and the rollout pool; a local Ray started
    here is shut down at the end, and the actors are killed whatever happens."""
    started = connect(config, address)
    pool = None
    try:
        learner, pool = ray_runtime(config, local=started)
        yield learner, pool
    finally:
        if pool is not None:
            pool.close()
        if started:
            ray.shutdown()


def check_local_fit(config: Config) -> None:
    """A local cluster cannot grow: what it can never place is an error now, not an endless wait.
    (A joined cluster may autoscale, so there an actor waits for its resources.)"""
    have = ray.cluster_resources()
    learner, rollout = config.learner, config.rollout
    for resource, key in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
        for_learner, per_actor = getattr(learner, key), getattr(rollout, key)
        need, available = for_learner + rollout.num_workers * per_actor, have.get(resource, 0.0)
        if need > available + 1e-9:
            raise ValueError(f"the local Ray cluster has {available:g} {resource}, but learner.{key} = "
                             f"{for_learner:g} plus rollout.num_workers = {rollout.num_workers} x rollout.{key} = "
                             f"{per_actor:g} ask for {need:g}: lower them, or join a larger cluster with --address")


def ray_runtime(config: Config, local: bool) -> tuple[RemoteLearner, RayPool]:
    """The learner actor and the rollout pool; `local`: on a cluster this process started."""
    if local:
        check_local_fit(config)
    return RemoteLearner(config), RayPool(config, method_for(config))


def run_as_tasks(function, calls: list[tuple], num_cpus: int) -> list:
    """function(*call) for each call as parallel Ray tasks of one CPU each, the results in order: on
    the Ray this process has joined, else on a local Ray of `num_cpus` CPUs (loopback only) started
    and shut down here. A task's error is raised as itself."""
    started = not ray.is_initialized()
    if started:
        start_reaper()  # ends the local cluster's processes even if this process is SIGKILLed
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(function)
        return ray.get([task.remote(*call) for call in calls])
    except RayTaskError as error:
        raise error.cause from None
    finally:
        if started:
            ray.shutdown()
