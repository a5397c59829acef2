"""One writer per run directory: a second `train` on a run that is being written, new or resumed, is
refused naming the owner; a killed owner's lock or lease does not keep its run from resuming."""
import json
import os
import signal
import time

import pytest
import torch

import learner.run.owner as owner_module
from learner.cli import main
from learner.run.owner import OWNER, RunBusy, own_run
from learner.run.store import RunStore
from learner.stopping import RunFailed
from run_support import ROOT, records, start, wait_for_records

SMOKE = str(ROOT / "deploy/configs/smoke.yaml")
# MLE only, one torch thread: a run of a few seconds that checkpoints every 3 epochs.
SHORT = ["rollout.num_workers=0", "learner.torch_threads=1", "train.mle_epochs=12", "train.disc_pretrain_rounds=0",
         "train.adv_iterations=0", "train.eval_every=12", "train.checkpoint_every=3"]


@pytest.fixture(autouse=True)
def torch_threads_kept():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


@pytest.fixture
def quick_settle(monkeypatch):
    monkeypatch.setattr(owner_module, "SETTLE_S", 0.01)


def within(seconds: float, condition) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@pytest.mark.unit
def test_a_local_run_directory_has_one_owner_and_is_free_again_after_it(tmp_path):
    run = RunStore(tmp_path / "run")
    with own_run(run):
        with pytest.raises(RunBusy, match=f"in use by another seqgan train \\(host .*, PID {os.getpid()}, started"):
            with own_run(RunStore(tmp_path / "run")):
                pass
        assert json.loads((tmp_path / "run" / OWNER).read_text())["pid"] == os.getpid()
    assert not (tmp_path / "run").exists(), "the lock's own folder, with nothing written, stayed behind"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "kept.txt").write_text("user file")
    with own_run(run):
        pass
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["kept.txt"]


@pytest.mark.unit
def test_a_uri_lease_refuses_a_second_writer_and_goes_when_released(tmp_path, quick_settle):
    location = f"file://{tmp_path}/run"
    with own_run(RunStore(location), heartbeat_s=0.05):
        lease = json.loads((tmp_path / "run" / OWNER).read_text())
        assert within(10, lambda: json.loads((tmp_path / "run" / OWNER).read_text())["heartbeat"] > lease["heartbeat"])
        with pytest.raises(RunBusy, match=f"PID {os.getpid()}.*heartbeat \\d+ s ago; a lease not refreshed for 60 s"):
            with own_run(RunStore(location)):
                pass
    assert not (tmp_path / "run" / OWNER).exists()


@pytest.mark.unit
def test_a_stale_lease_is_taken_over_and_its_old_owner_stops_writing(tmp_path, quick_settle):
    location = f"file://{tmp_path}/run"
    dead = {"host": "elsewhere", "pid": 1, "started": "then", "token": "theirs", "heartbeat": time.time() - 3600}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / OWNER).write_text(json.dumps(dead))
    run = RunStore(location)
    with own_run(run, heartbeat_s=3600) as lease:  # beats only when the test says
        assert json.loads((tmp_path / "run" / OWNER).read_text())["pid"] == os.getpid(), "a dead lease was kept"
        run.write_bytes("metrics.jsonl", b"{}\n")
        RunStore(location).write_bytes(OWNER, json.dumps({**dead, "heartbeat": time.time()}).encode())  # taken over
        lease.refresh()
        with pytest.raises(RunFailed, match="taken over by another writer \\(host elsewhere, PID 1\\)"):
            run.write_bytes("metrics.jsonl", b"{}\n{}\n")
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == b"{}\n"
    assert json.loads((tmp_path / "run" / OWNER).read_text())["token"] == "theirs", "the new owner's lease was removed"


@pytest.mark.unit
@pytest.mark.parametrize("flag, value", [("--out", ""), ("--out", "  "), ("--resume", "")])
def test_an_empty_run_directory_is_refused(tmp_path, monkeypatch, capsys, flag, value):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", SMOKE, "--set", *SHORT, flag, value]) == 2
    assert f"{flag} {value!r} is empty: give a run directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [], "something was written into the current directory"


@pytest.mark.smoke
def test_racing_writers_one_refused_a_running_run_not_resumed_a_killed_one_resumed(tmp_path, capsys):
    run = tmp_path / "run"
    seeds = {start("train", "--config", SMOKE, "--set", *SHORT, f"train.seed={seed}", "--out", run,
                   log=tmp_path / f"{seed}.txt"): seed for seed in (1, 2)}
    first, second = seeds
    deadline = time.monotonic() + 120
    while first.poll() is None and second.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    refused, owner = (first, second) if first.poll() is not None else (second, first)
    out = (tmp_path / f"{seeds[refused]}.txt").read_text()
    assert refused.wait() == 2, out[-2000:]
    assert "is in use by another seqgan train (host" in out and f"PID {owner.pid}" in out, out[-2000:]
    wait_for_records(run, 2, owner)
    os.kill(owner.pid, signal.SIGSTOP)  # still the owner, frozen: nothing ends its lock but its end
    try:
        before = (run / "metrics.jsonl").read_bytes()
        assert main(["train", "--resume", str(run)]) == 2
        assert f"PID {owner.pid}" in capsys.readouterr().err
        assert (run / "metrics.jsonl").read_bytes() == before, "a refused writer touched the run"
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=60)
    assert f"seed: {seeds[owner]}" in (run / "config.yaml").read_text(), "the refused run's config replaced the owner's"
    assert main(["train", "--resume", str(run)]) == 0, capsys.readouterr().err[-2000:]
    assert [(r["phase"], r["step"]) for r in records(run)] == [("mle", step) for step in range(12)]
    assert not (run / OWNER).exists()
