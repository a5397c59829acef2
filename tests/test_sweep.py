"""`seqgan sweep`: the grid and its checks (no Ray), then end to end on a local Ray: a 2 x 2 grid of
the smoke preset equals the same four `seqgan train` runs; a trial killed mid-run is retried, and a
sweep whose driver is killed continues with --resume, both to the records of uninterrupted runs."""
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from learner.cli import main
from run_support import TINY_SMOKE as TINY
from run_support import all_gone, comparable, descendants, records, start
from seqgan.config import ConfigError

SMOKE = "deploy/configs/smoke.yaml"


def train(out: Path, *sets: str) -> list[dict]:
    """`seqgan train` of the smoke preset with TINY and `sets`, in this process; its records."""
    assert main(["train", "--config", SMOKE, "--set", *TINY, *sets, "--out", str(out)]) == 0
    return comparable(records(out))


def tune_results(out: Path, point: str) -> list[dict]:
    """What Tune logged for the point's trial (its result.json lines), in every launch."""
    lines = []
    for path in sorted(out.glob(f".tune/launch-*/{point}/result.json")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return lines


def states(out: Path) -> dict[str, str]:
    return {p["name"]: p["state"] for p in json.loads((out / "sweep.json").read_text())["points"]}


# -- the grid and bad input: nothing starts ---------------------------------------------------
@pytest.mark.unit
def test_the_grid_is_the_cross_product_named_by_its_assignments():
    from learner.sweep.grid import Spec, expand, parse_grid

    grid = parse_grid(["train.method=seqgan,mle", "train.seed=1,2"])
    points = expand(Spec(None, ("rollout.num_workers=0",), grid))
    assert [p.name for p in points] == ["train.method=seqgan,train.seed=1", "train.method=seqgan,train.seed=2",
                                        "train.method=mle,train.seed=1", "train.method=mle,train.seed=2"]
    assert [(p.config.train.method, p.config.train.seed) for p in points] == \
        [("seqgan", 1), ("seqgan", 2), ("mle", 1), ("mle", 2)]
    assert all(p.config.rollout.num_workers == 0 for p in points)


@pytest.mark.unit
@pytest.mark.parametrize("assignments, message", [
    ([], "empty grid"), (["train.seed="], "no empty value"), (["train.seed=1,,2"], "no empty value"),
    (["train.seed"], "expected SECTION.KEY"), (["train.seed=1", "train.seed=2"], "given twice"),
    (["train.seed=1,1"], "appears twice")])
def test_a_malformed_grid_is_refused(assignments, message):
    from learner.sweep.grid import parse_grid

    with pytest.raises(ValueError, match=message):
        parse_grid(assignments)


@pytest.mark.unit
def test_a_value_that_fails_for_one_point_names_that_point():
    from learner.sweep.grid import Spec, expand, parse_grid

    with pytest.raises(ConfigError, match=r"sweep point train.seed=2,train.method=nope: .*train.method"):
        expand(Spec(None, (), parse_grid(["train.seed=2", "train.method=mle,nope"])))


@pytest.mark.unit
def test_placement_groups_follow_the_runs_config():
    from learner.sweep.tuning import bundles
    from seqgan.config_files import load_config

    assert bundles(load_config(SMOKE, ["rollout.num_workers=0"])) == [{"CPU": 1.0, "GPU": 0.0}]
    config = load_config(SMOKE, ["rollout.num_workers=3", "rollout.num_cpus=2", "learner.num_cpus=1"])
    assert bundles(config) == [{}, {"CPU": 1.0, "GPU": 0.0}, *[{"CPU": 2.0, "GPU": 0.0}] * 3]
    config = load_config(SMOKE, ["rollout.num_workers=2"])  # learner.num_cpus 0: no bundle of its own
    assert bundles(config) == [{}, {"CPU": 1.0, "GPU": 0.0}, {"CPU": 1.0, "GPU": 0.0}]


@pytest.mark.unit
@pytest.mark.parametrize("args, message", [
    ([], "empty grid"),
    (["--grid", "train.nope=1,2"], "sweep point train.nope=1: .*unknown key train.nope"),
    (["--grid", "train.seed=1,2", "--grid", "train.mle_epochs=3,-1"], "sweep point train.seed=1,train.mle_epochs=-1"),
    (["--grid", "train.seed=1,2", "--set", "train.seed=3"], "train.seed is both in --grid and in --set")])
def test_bad_input_is_refused_before_anything_starts(tmp_path, capsys, args, message):
    out = tmp_path / "sweep"
    assert main(["sweep", "--config", SMOKE, *args, "--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.unit
def test_a_frontier_of_fewer_than_two_samples_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["sweep", "--config", SMOKE, "--grid", "train.seed=1,2", "--frontier", "1", "--out", str(tmp_path / "s")])
    assert refused.value.code == 2 and "--frontier: expected 2 to" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.unit
def test_an_out_holding_a_different_sweep_or_a_run_is_refused(tmp_path, capsys):
    from learner.run.store import RunStore
    from learner.sweep.grid import Spec, expand, parse_grid
    from learner.sweep.state import SweepState

    spec = Spec(Path(SMOKE).read_text(), ("rollout.num_workers=0",), parse_grid(["train.seed=1,2"]))
    SweepState(RunStore(tmp_path / "sweep"), spec, expand(spec, SMOKE)).write()
    before = (tmp_path / "sweep" / "sweep.json").read_bytes()
    assert main(["sweep", "--config", SMOKE, "--grid", "train.seed=1,3", "--set", "rollout.num_workers=0",
                 "--out", str(tmp_path / "sweep")]) == 2
    assert "holds a different sweep (point train.seed=2 differs)" in capsys.readouterr().err
    assert (tmp_path / "sweep" / "sweep.json").read_bytes() == before
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("{}\n")
    assert main(["sweep", "--grid", "train.seed=1,2", "--out", str(tmp_path / "run")]) == 2
    assert "already holds 'config.yaml' but no sweep.json" in capsys.readouterr().err
    assert main(["sweep", "--resume", str(tmp_path / "run")]) == 2
    assert "no sweep there" in capsys.readouterr().err


# -- end to end on a local Ray ----------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.smoke
def test_a_2x2_grid_equals_four_train_runs_and_ends_with_the_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    log = tmp_path / "sweep.txt"
    sweep = start("sweep", "--config", SMOKE, "--grid", "train.method=seqgan,mle", "--grid", "train.seed=1,2",
                  "--set", *TINY, "--max-concurrent", "2", "--out", out, "--frontier", "64", log=log)
    points = {f"train.method={m},train.seed={s}": (f"train.method={m}", f"train.seed={s}")
              for m in ("seqgan", "mle") for s in (1, 2)}
    expected = {name: train(tmp_path / "ref" / name, *sets) for name, sets in points.items()}  # meanwhile
    assert sweep.wait(timeout=600) == 0, log.read_text()[-4000:]
    for name in points:
        assert comparable(records(out / name)) == expected[name], name
        assert (out / name / "summary.json").is_file()
        reported = [r for r in tune_results(out, name) if "phase" in r]  # every record reached Tune
        assert [(r["phase"], r["step"]) for r in reported] == [(r["phase"], r["step"]) for r in expected[name]]
    assert states(out) == {name: "finished" for name in points}
    table = (out / "report.md").read_text()
    assert all(f"| {name} |" in table for name in points)
    assert "| seqgan | 2 | 1, 2 |" in table and "| mle | 2 | 1, 2 |" in table
    assert table.strip() in log.read_text()  # and the command printed it
    # --frontier: `seqgan frontier` over the points, its plot, and its columns in the report
    frontier = json.loads((out / "frontier.json").read_text())
    capsys.readouterr()
    assert main(["frontier", *(str(out / name) for name in points), "--samples", "64", "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert [e["points"] for e in frontier["runs"]] == [e["points"] for e in alone["runs"]]
    assert frontier["equal_diversity"] == alone["equal_diversity"] and frontier["samples"] == 64
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "at mle's τ = 1" in table and "curve better than" in table


@pytest.mark.ray
@pytest.mark.smoke
def test_a_killed_trial_is_retried_and_a_killed_sweep_resumes_to_the_records_of_uninterrupted_runs(tmp_path):
    """One sweep, two faults: the first point's trial process is killed mid-run (Tune retries it from
    the run's checkpoint), then, once that point has finished, the sweep's driver (kill -9); `--resume`
    leaves the finished point untouched and completes the other."""
    longer = ["train.adv_iterations=30"]  # seconds of adversarial phase: the kill lands mid-run
    out, first, second = tmp_path / "sweep", "train.seed=1", "train.seed=2"
    log = tmp_path / "first.txt"
    driver = start("sweep", "--config", SMOKE, "--grid", "train.seed=1,2", "--set", *TINY, *longer,
                   "--max-concurrent", "1", "--out", out, log=log)

    def wait_until(done) -> None:
        deadline = time.monotonic() + 300
        while not done():
            assert driver.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)

    # Killed once the run is in its adversarial phase by its own records. Tune's result.json lags far
    # behind them (waiting for it let the trial finish first), so the PID comes from the run directory's
    # owner.json, which names the process writing the run: the trial's. Tune's records confirm it below.
    metrics, owner = out / first / "metrics.jsonl", out / first / "owner.json"
    wait_until(lambda: metrics.exists() and '"phase": "adv"' in metrics.read_text() and owner.exists())
    trial_pid = json.loads(owner.read_text())["pid"]
    os.kill(trial_pid, signal.SIGKILL)
    assert not (out / first / "summary.json").exists(), "the trial ended before it could be killed"
    wait_until(lambda: (out / first / "summary.json").exists())
    cluster = descendants(driver)
    os.kill(driver.pid, signal.SIGKILL)  # the driver only: its local cluster's reaper ends the rest
    driver.wait(timeout=60)
    assert all_gone(cluster, timeout=60) == []
    assert not (out / second / "summary.json").exists(), "the sweep ended before it could be killed"
    # Tune's records name the killed process as the point's trial (the retry's may not be flushed: the
    # driver was killed); the log shows the retry resuming the run from its checkpoint.
    assert trial_pid in {r["pid"] for r in tune_results(out, first)}
    assert f"{first}, resumed from step-" in log.read_text()
    finished = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / first).rglob("*") if p.is_file()}

    resumed = start("sweep", "--resume", out, log=tmp_path / "resumed.txt")
    expected = {name: train(tmp_path / name, name, *longer) for name in (first, second)}  # meanwhile
    assert resumed.wait(timeout=600) == 0, (tmp_path / "resumed.txt").read_text()[-4000:]
    assert "1 finished, 1 to run" in (tmp_path / "resumed.txt").read_text()
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / first).rglob("*") if p.is_file()} == finished
    for name in (first, second):
        assert comparable(records(out / name)) == expected[name], name
    assert states(out) == {first: "finished", second: "finished"}
