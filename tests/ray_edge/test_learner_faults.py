"""The learner under faults: a learner actor that dies is restored from the latest checkpoint and the
run writes the records of a run that never lost it; past learner.max_restarts the run fails clearly."""
from __future__ import annotations

import json

import pytest
import torch

ray = pytest.importorskip("ray")

from learner.methods import method_for
from actors.inline_pool import InlinePool  # noqa: E402
from learner.driver import Trainer  # noqa: E402
from learner.learner import Learner  # noqa: E402
from learner.threads import usable_cores  # noqa: E402
from learner.remote import ray_runtime  # noqa: E402
from ray_support import config_with  # noqa: E402

OVERRIDES = ["rollout.sample_unit=64", "rollout.timeout_s=120", "train.checkpoint_every=3"]
FAULT_COUNTERS = ("units_rerun", "version_lag_max", "learner_restarts")


def comparable(run) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time_") and k not in FAULT_COUNTERS} for r in records]


class KillLearnerAt:
    """A watcher that kills the learner actor once, when the run has written `count` records (the
    next call on it finds it dead, wherever in the step that is)."""

    def __init__(self, learner, count: int, kills: list):
        self.learner, self.count, self.kills = learner, count, kills

    def __call__(self, kept: list[dict]) -> list:
        self.seen = len(kept)
        return [self]

    def record(self, record: dict) -> None:
        self.seen += 1
        if self.seen == self.count and not self.kills:
            self.kills.append(self.seen)
            ray.kill(self.learner.handle, no_restart=True)

    def close(self) -> None:
        pass


@pytest.fixture
def inline_records(tmp_path):
    config = config_with(*OVERRIDES)
    torch.set_num_threads(usable_cores())  # as learner.remote.LearnerActor
    Trainer(config, tmp_path / "inline", Learner(config), InlinePool(config, method_for(config))).train()
    return comparable(tmp_path / "inline")


@pytest.mark.ray
@pytest.mark.parametrize("kill_at", [5, 8])  # in D pre-training (after 4 MLE epochs); in the adversarial phase
def test_a_lost_learner_is_restored_from_its_checkpoint_and_the_records_do_not_change(
        ray_local, tmp_path, inline_records, kill_at):
    config = config_with(*OVERRIDES, "rollout.num_workers=2")
    learner, pool = ray_runtime(config, local=True)
    kills: list = []
    try:
        summary = Trainer(config, tmp_path / "ray", learner, pool, watch=KillLearnerAt(learner, kill_at, kills)).train()
    finally:
        pool.close()
        ray.kill(learner.handle)
    assert kills == [kill_at], "the learner was not killed"
    assert summary["learner_restarts"] == 1
    records = [json.loads(line) for line in (tmp_path / "ray" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r.get("learner_restarts", 0) for r in records) == 1  # reported once, in the metrics
    assert comparable(tmp_path / "ray") == inline_records  # nothing lost, nothing logged twice


@pytest.mark.ray
def test_a_learner_lost_more_often_than_allowed_fails_with_a_clear_error(ray_local, tmp_path):
    config = config_with(*OVERRIDES, "rollout.num_workers=2", "learner.max_restarts=0")
    learner, pool = ray_runtime(config, local=True)
    try:
        with pytest.raises(RuntimeError, match=r"lost 1 times, more than learner.max_restarts = 0.*--resume"):
            Trainer(config, tmp_path / "ray", learner, pool, watch=KillLearnerAt(learner, 2, [])).train()
    finally:
        pool.close()
        ray.kill(learner.handle)
    assert (tmp_path / "ray" / "checkpoints" / "latest").is_file()  # what it had stays, to resume from
