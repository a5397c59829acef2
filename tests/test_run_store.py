"""Run directories on a URI (pyarrow.fs): the same run, checkpoints and resume as on a local path."""
import json
import signal

import pytest
import torch

from learner.methods import method_for
from actors.inline_pool import InlinePool
from learner.run.checkpoint import load_checkpoint
from learner.driver import Trainer
from learner.learner import Learner
from learner.threads import usable_cores
from learner.run.log import read_records
from learner.run.store import RunStore, check_location
from learner.stopping import StopFlag, StopRequested
from run_support import comparable
from seqgan.config_files import load_config


@pytest.mark.unit
def test_a_uri_store_writes_reads_lists_and_removes(tmp_path):
    run = RunStore("mock:///runs/one")
    run.make()
    run.write_bytes("a/b.txt", b"hello")
    run.write_bytes("a/b.txt", [b"he", memoryview(b"llo!")])  # replaced whole
    assert run.read_bytes("a/b.txt") == b"hello!" and run.is_file("a/b.txt") and run.exists("a")
    assert not run.exists("nope") and run.folders("") == ["a"] and run.folders("nope") == []
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "x.bin").write_bytes(b"\x00\x01")
    run.upload(tmp_path / "up", "c/d")
    (tmp_path / "down").mkdir()
    assert (run.download("c/d", tmp_path / "down") / "x.bin").read_bytes() == b"\x00\x01"
    run.remove_folder("c")
    assert not run.exists("c/d/x.bin")
    with pytest.raises(FileNotFoundError, match="nope"):
        run.read_bytes("nope")
    with pytest.raises(ValueError, match="no-such-scheme"):
        RunStore("no-such-scheme://x/y")


@pytest.mark.unit
def test_a_file_uri_writes_through_pyarrow_and_leaves_no_temporary_files(tmp_path):
    run = RunStore(f"file://{tmp_path}/run")
    assert run.local is None
    run.write_bytes("m.json", b"{}")
    assert (tmp_path / "run" / "m.json").read_bytes() == b"{}"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["m.json"]


@pytest.mark.unit
def test_under_a_ray_job_a_relative_run_directory_is_refused(monkeypatch):
    check_location("runs/x")  # not a job: fine
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}")
    with pytest.raises(ValueError, match="'runs/x' is a relative path.*temporary copy.*URI"):
        check_location("runs/x")
    check_location("/shared/runs/x")
    check_location("s3://bucket/runs/x")


class StopAfter:
    """A watcher that asks for a stop once `count` records are written, as SIGTERM would."""

    def __init__(self, stop: StopFlag, count: int):
        self.stop, self.count, self.seen = stop, count, 0

    def record(self, record):
        self.seen += 1
        if self.seen == self.count:
            self.stop.signum = signal.SIGTERM

    def close(self):
        pass


def stop_test_config():
    return load_config("deploy/configs/smoke.yaml", ["rollout.num_workers=0", "train.checkpoint_every=3"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    torch.set_num_threads(usable_cores())
    c, run = stop_test_config(), tmp_path_factory.mktemp("reference")
    Trainer(c, run, Learner(c), InlinePool(c, method_for(c))).train()
    return comparable(read_records(RunStore(run)))


@pytest.mark.unit
@pytest.mark.parametrize("stop_after", [3, 6])  # inside MLE (no checkpoint due), inside D pre-training
def test_a_run_on_a_uri_stops_checkpoints_and_resumes_to_the_same_records(tmp_path, reference, stop_after):
    torch.set_num_threads(usable_cores())
    c = stop_test_config()

    run = RunStore(f"file://{tmp_path}/uri-run")
    stop = StopFlag()
    with pytest.raises(StopRequested, match=f"--resume file://{tmp_path}/uri-run"):
        Trainer(c, run, Learner(c), InlinePool(c, method_for(c)), watch=lambda kept: [StopAfter(stop, stop_after)],
                stop=stop).train()
    checkpoint = load_checkpoint(run)
    # asked while step `stop_after` was logged: the next step is finished and checkpointed
    assert checkpoint.progress["steps_done"] == stop_after + 1 == len(read_records(run))
    summary = Trainer(c, run, Learner(c), InlinePool(c, method_for(c)), checkpoint).train()
    assert comparable(read_records(run)) == reference
    assert json.loads(run.read_text("summary.json")) == summary
