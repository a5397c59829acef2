"""The one Ray edge of the rollout side: RolloutWorker in actors, and the pool that feeds them.

Weights: each version is put in the object store once; every call carries the current refs and
an actor fetches only versions newer than it holds, so a restarted actor re-syncs on its next
unit. Units are handed out one at a time to whichever actor is free (a slow actor does not hold
the iteration), re-run when their actor dies (by whichever actor is free: a dead actor gets no
units until it answers a probe after its restart), and every wait is bounded.
"""
from __future__ import annotations

import bisect
import os
import time
from collections import deque

import ray
import torch
from ray.exceptions import ObjectLostError, RayActorError, RayTaskError

from actors.sync import WeightsLost
from actors.worker import RewardMethod, RolloutWorker, UnitResult
from seqgan.allocator import reuse_freed_memory
from seqgan.config import Config
from seqgan.packing import PackedWeights


class RolloutActor:
    def __init__(self, config: Config, method: RewardMethod):
        reuse_freed_memory()
        r = config.rollout
        device = "cuda" if r.num_gpus > 0 and torch.cuda.is_available() else "cpu"
        if device == "cpu":
            torch.set_num_threads(r.torch_threads)  # K actors must not oversubscribe the cores
        self.worker = RolloutWorker(config, method, device)

    def run(self, unit, samples, weights: dict) -> UnitResult:
        """weights: {name: (version, [ref])}; the list keeps Ray from fetching refs: only the models
        this unit uses are fetched, and only when newer than those held."""
        before = {name: self.worker.versions[name] for name in self.worker.method.models_used(unit)}
        for name in before:
            version, (ref,) = weights[name]
            if version > self.worker.versions[name]:
                self.worker.set_weights(ray.get(ref))
        result = self.worker.run(unit, samples)
        result.versions_before = before
        return result

    def set_weights(self, packed: PackedWeights) -> bool:
        return self.worker.set_weights(packed)

    def versions(self) -> dict[str, int]:
        return dict(self.worker.versions)

    def pid(self) -> int:
        return os.getpid()


class RayPool:
    def __init__(self, config: Config, method: RewardMethod):
        r = config.rollout
        self.config = config
        self.device_kind = "cuda" if r.num_gpus > 0 else "cpu"  # as RolloutActor picks; sizes the work units
        actor_class = ray.remote(RolloutActor).options(
            num_cpus=r.num_cpus, num_gpus=r.num_gpus, max_restarts=-1, max_task_retries=0)
        self.actors = [actor_class.remote(config, method) for _ in range(r.num_workers)]
        self.weights: dict[str, tuple[int, list]] = {}  # the current version of each model
        self.published: dict[str, list[int]] = {}  # every published version of each model, ascending
        self.units_rerun = 0  # units re-run because their actor died, whole run
        self.reported_reruns, self.max_lag = 0, 0  # for `stats`

    def publish(self, name: str, version: int, payload) -> None:
        """One object-store copy per version; dropping the old ref keeps at most two alive."""
        ref = payload if isinstance(payload, ray.ObjectRef) else ray.put(payload)
        self.weights[name] = (version, [ref])
        self.published.setdefault(name, []).append(version)

    def run(self, units: list, samples: torch.Tensor | None = None) -> list[UnitResult]:
        r = self.config.rollout
        samples_ref = ray.put(samples) if samples is not None else None
        pending, idle = deque(range(len(units))), deque(range(len(self.actors)))
        in_flight: dict = {}  # ref -> (unit position, or None for a probe of a dead actor; actor index)
        failures = [0] * len(units)
        results: list[UnitResult | None] = [None] * len(units)
        deadline = time.monotonic() + r.timeout_s  # moved on by every unit that comes back
        while pending or any(position is not None for position, _ in in_flight.values()):
            while pending and idle:
                position, actor = pending.popleft(), idle.popleft()
                ref = self.actors[actor].run.remote(units[position], samples_ref, self.weights)
                in_flight[ref] = (position, actor)
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                units_in_flight = sum(position is not None for position, _ in in_flight.values())
                raise TimeoutError(f"no rollout result within rollout.timeout_s={r.timeout_s}s "
                                   f"({units_in_flight} units in flight, {len(pending)} waiting)")
            position, actor = in_flight.pop(done[0])
            if position is not None:
                deadline = time.monotonic() + r.timeout_s
            try:
                result = ray.get(done[0])
            except RayActorError as error:
                # The actor died (Ray restarts it). It gets units again once it answers a probe, so
                # a slow restart neither holds the unit nor uses up its retries.
                in_flight[self.actors[actor].pid.remote()] = (None, actor)
                if position is None:
                    continue
                # Re-run the unit on whichever actor is free; it gives the same result.
                failures[position] += 1
                self.units_rerun += 1
                if failures[position] > r.max_retries:
                    raise RuntimeError(f"work unit {units[position].index} failed {failures[position]} times "
                                       f"(rollout.max_retries={r.max_retries}): {error}") from error
                pending.appendleft(position)
                continue
            except RayTaskError as error:
                if isinstance(error.cause, ObjectLostError):  # e.g. the learner's node died with them
                    raise WeightsLost(f"work unit {units[position].index if position is not None else '?'}: "
                                      f"{type(error.cause).__name__}") from error
                raise
            idle.append(actor)
            if position is None:
                continue
            results[position] = result
            self.max_lag = max(self.max_lag, self.lag(result))
        return results

    def lag(self, result: UnitResult) -> int:
        """Versions published since the ones the actor held, for the models its unit used; an actor
        that held none yet (new, or restarted) is not behind."""
        return max((len(self.published[name]) - bisect.bisect_right(self.published[name], held)
                    for name, held in result.versions_before.items() if held >= 0), default=0)

    def stats(self) -> dict:
        """Since the last call: units re-run after their actor died, and the largest version lag."""
        stats = {"units_rerun": self.units_rerun - self.reported_reruns, "version_lag_max": self.max_lag}
        self.reported_reruns, self.max_lag = self.units_rerun, 0
        return stats

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
