"""Exact resume: a run killed (SIGKILL) or stopped (SIGTERM, SIGINT) at any point continues from its
latest checkpoint and writes the same records as a run that was never interrupted."""
import json
import os
import signal
import time

import pytest

from run_support import all_gone, comparable, descendants, records, start, wait_for_records

# The smoke preset a little longer, a checkpoint every step: kills land in every phase.
LONGER = ["train.mle_epochs=6", "train.disc_pretrain_rounds=3", "train.adv_iterations=6", "train.checkpoint_every=1"]
KILL_AFTER = {"mle": 2, "disc": 7, "adv": 11}  # records written when the kill comes: 6 mle + 3 disc + 6 adv


def train_args(run, workers: int):
    return ["train", "--config", "deploy/configs/smoke.yaml", "--set", *LONGER, f"rollout.num_workers={workers}",
            "--out", run]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: an inline run never stopped (a run's records do not depend on its workers)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    process = start(*train_args(run, 0), log=run.parent / "log.txt")
    assert process.wait(timeout=600) == 0, (run.parent / "log.txt").read_text()[-3000:]
    return comparable(records(run))


def resume(run, log):
    process = start("train", "--resume", run, log=log)
    assert process.wait(timeout=600) == 0, log.read_text()[-3000:]
    return log.read_text()


@pytest.mark.smoke
@pytest.mark.parametrize("phase", ["mle", "disc", "adv"])
@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.ray)])
def test_a_run_killed_with_sigkill_resumes_to_the_same_records(tmp_path, uninterrupted, phase, workers):
    run = tmp_path / "run"
    process = start(*train_args(run, workers), log=tmp_path / "first.txt")
    wait_for_records(run, KILL_AFTER[phase], process)
    ray_processes = descendants(process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert all_gone(ray_processes) == [], "processes of the killed run's local Ray are still alive"
    out = resume(run, tmp_path / "second.txt")
    assert "resumed from step-" in out
    assert comparable(records(run)) == uninterrupted
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final_nll_oracle"] == uninterrupted[-1]["nll_oracle"]


@pytest.mark.smoke
@pytest.mark.parametrize("signum, workers", [
    (signal.SIGTERM, 0),  # what `ray job stop` sends
    pytest.param(signal.SIGINT, 2, marks=pytest.mark.ray)])  # Ctrl-C: to the terminal's whole process group
def test_sigterm_and_sigint_checkpoint_the_current_step_and_say_how_to_resume(tmp_path, uninterrupted, signum,
                                                                              workers):
    run = tmp_path / "run"
    process = start(*train_args(run, workers), "--set", "train.checkpoint_every=100", log=tmp_path / "first.txt")
    wait_for_records(run, 3, process)
    ray_processes = descendants(process)
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # the CLI and the local Ray it started share the group
    else:
        os.kill(process.pid, signum)
    assert process.wait(timeout=120) == 128 + signum
    out = (tmp_path / "first.txt").read_text()
    assert f"seqgan train --resume {run}" in out and "Traceback" not in out, out[-2000:]
    assert all_gone(ray_processes) == [], "the local Ray outlived the stopped run"
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")], "half-written files were left"
    done = len(records(run))
    progress = json.loads((run / "checkpoints" / (run / "checkpoints" / "latest").read_text() / "progress.json")
                          .read_text())
    assert progress["steps_done"] == done, "the stop did not checkpoint the step it finished"
    resume(run, tmp_path / "second.txt")
    assert comparable(records(run)) == uninterrupted


@pytest.mark.smoke
def test_resume_refuses_a_finished_run_another_config_a_damaged_checkpoint_and_an_empty_directory(tmp_path):
    from learner.cli import main

    run = tmp_path / "run"
    assert main(["train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0",
                 "--out", str(run)]) == 0
    before = (run / "metrics.jsonl").read_bytes()

    def refused(*argv) -> str:
        process = start("train", "--resume", *argv, log=tmp_path / "log.txt")
        assert process.wait(timeout=300) == 2
        out = (tmp_path / "log.txt").read_text()
        assert "Traceback" not in out, out
        return out

    assert "the run has finished" in refused(run)
    (run / "summary.json").unlink()
    out = refused(run, "--set", "generator.lr=0.5")
    assert "generator.lr = 0.01, this asks for 0.5" in out
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text()
    (latest / "progress.json").write_text("{not json")
    assert "is damaged" in refused(run) and latest.name in refused(run)
    (tmp_path / "empty").mkdir()
    assert "holds no run to resume" in refused(tmp_path / "empty")
    assert "no such run directory" in refused(tmp_path / "nowhere")
    assert (run / "metrics.jsonl").read_bytes() == before, "a refused resume touched the run"


@pytest.mark.smoke
@pytest.mark.ray
def test_an_error_after_the_local_ray_started_leaves_no_processes_and_no_files(tmp_path):
    (tmp_path / "short.txt").write_text("1 2 3 4 5 6 7 8 9 10\n" * 4)  # fewer sequences than a batch
    run = tmp_path / "run"
    process = start("train", "--config", "deploy/configs/smoke.yaml", "--set", f"data.train_file={tmp_path}/short.txt",
                    f"data.test_file={tmp_path}/short.txt", "--out", run, log=tmp_path / "log.txt")
    seen = set()
    while process.poll() is None:  # the processes of its local Ray, as they come
        seen |= {p for p in descendants(process) if p.is_running()}
        time.sleep(0.05)
    out = (tmp_path / "log.txt").read_text()
    assert process.returncode == 2 and "fewer than data.batch_size" in out and "Traceback" not in out, out[-2000:]
    assert seen, "no local Ray was started (the error came too early to test this)"
    assert all_gone(list(seen)) == [], "processes of the failed run's local Ray are still alive"
    assert not run.exists(), "a failed run left files"
