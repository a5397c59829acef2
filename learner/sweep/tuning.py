"""The Ray edge of a sweep: each point a Ray Tune trial (function trainable) holding a placement group
sized from the point's own config, so a run's learner and rollout actors stay inside its reservation
(Tune schedules a trial's child actors into the trial's placement group)."""
from __future__ import annotations

import contextlib
from pathlib import Path

import ray
from ray import tune

from learner.run.store import RunStore
from learner.sweep.grid import Point
from learner.sweep.state import SweepState
from learner.sweep.trial import run_point
from seqgan.config import Config
from seqgan.config_files import dump_config


def bundles(config: Config) -> list[dict[str, float]]:
    """The trial's placement group. Inline (0 workers): one bundle, where the trial itself trains (at
    least one CPU). Otherwise an empty head bundle for the trial (a driver, as `seqgan train`'s), the
    learner's bundle (when it reserves anything) and one bundle per rollout actor."""
    learner, rollout = config.learner, config.rollout
    if rollout.num_workers == 0:
        return [{"CPU": max(learner.num_cpus, 1.0), "GPU": learner.num_gpus}]
    actor = {"CPU": rollout.num_cpus, "GPU": rollout.num_gpus}
    rest = [{"CPU": learner.num_cpus, "GPU": learner.num_gpus}, *[actor] * rollout.num_workers]
    return [{}, *[b for b in rest if any(b.values())]]


def check_local_fit(points: list[Point]) -> None:
    """A local cluster cannot grow: a point it can never hold is an error now, not an endless wait."""
    have = ray.cluster_resources()
    for point in points:
        for resource in ("CPU", "GPU"):
            need = sum(b.get(resource, 0.0) for b in bundles(point.config))
            if need > have.get(resource, 0.0) + 1e-9:
                raise ValueError(f"sweep point {point.name} needs {need:g} {resource} (learner.num_cpus|num_gpus "
                                 f"plus rollout.num_workers x rollout.num_cpus|num_gpus; inline runs take one CPU), "
                                 f"the local Ray cluster has {have.get(resource, 0.0):g}: lower them, or join a "
                                 "larger cluster with --address")


@contextlib.contextmanager
def cluster(points: list[Point], address: str | None):
    """Connected to Ray for the block (joined as `seqgan train` joins, else a local cluster on
    127.0.0.1 that must hold every point, shut down at the end)."""
    from learner.remote import connect

    started = connect(points[0].config, address)
    try:
        if started:
            check_local_fit(points)
        yield
    finally:
        if started:
            ray.shutdown()


class StateCallback(tune.Callback):
    """Keeps OUT/sweep.json's point states current as Tune starts, retries and ends trials."""

    def __init__(self, state: SweepState):
        self.state = state

    def on_trial_start(self, iteration, trials, trial, **info):
        self.state.mark(trial.config["point"], "running")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.state.mark(trial.config["point"], "retrying")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.state.mark(trial.config["point"], "finished")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.state.mark(trial.config["point"], "failed")


def tune_storage(out: RunStore) -> str:
    """Tune's own files (experiment state, each trial's result.json) go under OUT/.tune."""
    return f"{out.location.rstrip('/')}/.tune" if out.local is None else str(Path(out.location).resolve() / ".tune")


def run_trials(out: RunStore, points: list[Point], state: SweepState, launch: int,
               max_concurrent: int | None, max_failures: int) -> list[str]:
    """The points as trials, `max_concurrent` at once (None: as many as the cluster holds), each
    retried up to `max_failures` times; returns the names of the points whose trial failed."""
    work = {p.name: (f"{out.location.rstrip('/')}/{p.name}", dump_config(p.config)) for p in points}
    sizes = {p.name: bundles(p.config) for p in points}

    def trial(trial_config: dict) -> None:
        location, config_text = work[trial_config["point"]]
        run_point(location, config_text, tune.report)

    trainable = tune.with_resources(trial, lambda c: tune.PlacementGroupFactory(sizes[c["point"]]))
    tuner = tune.Tuner(
        trainable, param_space={"point": tune.grid_search(list(work))},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent,
                                    trial_name_creator=lambda t: t.config["point"],
                                    trial_dirname_creator=lambda t: t.config["point"]),
        run_config=tune.RunConfig(name=f"launch-{launch}", storage_path=tune_storage(out),
                                  failure_config=tune.FailureConfig(max_failures=max_failures),
                                  callbacks=[StateCallback(state)]))
    results = tuner.fit()
    return [r.config["point"] for r in results if r.error is not None]
