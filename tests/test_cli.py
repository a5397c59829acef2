"""The `seqgan` command end to end, in subprocesses."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def seqgan(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "learner.cli", *map(str, args)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"seqgan {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return result


@pytest.mark.smoke
def test_train_sample_eval_inline(tmp_path):
    run = tmp_path / "run"
    out = seqgan("train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0", "--out", run)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["phase"] for r in records} == {"mle", "disc", "adv"}
    assert all({"phase", "step"} <= set(r) for r in records)
    adv = [r for r in records if r["phase"] == "adv"]
    assert len(adv) == 3 and all("time_rollout" in r and "g_loss" in r for r in adv)
    assert "nll_oracle" in adv[-1] and "nll_test" in adv[-1]
    evaluated = [r["nll_oracle"] for r in records if "nll_oracle" in r]
    assert summary["best_nll_oracle"] == min(evaluated) and summary["final_nll_oracle"] == evaluated[-1]
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "latest").is_file()
    lines = [line for line in out.stderr.splitlines() if line.split(" ", 1)[0] in ("mle", "disc", "adv")]
    assert [line.split()[:2] for line in lines] == \
        [[r["phase"], f"{r['step'] + 1}/{ {'mle': 4, 'disc': 2, 'adv': 3}[r['phase']] }"] for r in records]
    assert f"run directory {run}" in out.stderr  # where the outputs are, said up front
    assert list((run / "tensorboard").glob("events.out.tfevents.*")), "no TensorBoard events beside the metrics"
    seqgan("plot", run, "--out", tmp_path / "curves.png")
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

    seqgan("sample", "--run", run, "-n", 50, "--out", tmp_path / "samples.txt")
    lines = (tmp_path / "samples.txt").read_text().splitlines()
    assert len(lines) == 50 and all(len(line.split()) == 10 for line in lines)
    (tmp_path / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(60)))
    seqgan("sample", "--run", run, "-n", 50, "--out", tmp_path / "words.txt", "--vocab", tmp_path / "vocab.txt")
    words = [line.split() for line in (tmp_path / "words.txt").read_text().splitlines()]
    assert words == [[f"w{i}" for i in line.split()] for line in lines]  # same seed, tokens as words
    (tmp_path / "short.txt").write_text("a\nb\n")
    short = seqgan("sample", "--run", run, "-n", 5, "--out", tmp_path / "w2.txt", "--vocab", tmp_path / "short.txt",
                   check=False)
    assert short.returncode == 2 and "has 2 words, model.vocab_size is 60" in short.stderr
    assert not (tmp_path / "w2.txt").exists()

    seqgan("oracle", "new", "--config", "deploy/configs/smoke.yaml", "--out", tmp_path / "oracle.sgw")
    seqgan("oracle", "sample", "--oracle", tmp_path / "oracle.sgw", "-n", 300, "--out", tmp_path / "real.txt")
    own = float(seqgan("eval", "--oracle", tmp_path / "oracle.sgw", tmp_path / "real.txt").stdout)
    generated = float(seqgan("eval", "--oracle", tmp_path / "oracle.sgw", tmp_path / "samples.txt").stdout)
    assert own < math.log(60) and generated > own

    again = seqgan("train", "--config", "deploy/configs/smoke.yaml", "--out", run, check=False)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert (run / "metrics.jsonl").read_text().count("\n") == len(records), "an existing run was touched"


@pytest.mark.smoke
def test_bad_input_is_a_clear_error(tmp_path):
    bad = seqgan("train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_rolouts=3",
                 "--out", tmp_path / "r", check=False)
    assert bad.returncode == 2 and "rollout.num_rolouts" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    seqgan("oracle", "new", "--config", "deploy/configs/smoke.yaml", "--out", tmp_path / "o.sgw")
    bad = seqgan("eval", "--oracle", tmp_path / "o.sgw", tmp_path / "bad.txt", check=False)
    assert bad.returncode == 2 and "expected model.seq_len = 10" in bad.stderr
    mismatch = seqgan("train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0",
                      f"data.oracle={tmp_path / 'o.sgw'}", "model.vocab_size=61", "--out", tmp_path / "r", check=False)
    assert mismatch.returncode == 2 and "(vocab_size, seq_len, start_token) = (60, 10, 0)" in mismatch.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.smoke
def test_existing_files_and_bad_paths_are_clear_errors(tmp_path, capsys):
    from learner.cli import main

    def refused(*argv) -> str:
        assert main([*map(str, argv)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err
    oracle = tmp_path / "o.sgw"
    assert main(["oracle", "new", "--config", "deploy/configs/smoke.yaml", "--out", str(oracle)]) == 0
    before = oracle.read_bytes()
    assert "already exists" in refused("oracle", "new", "--config", "deploy/configs/smoke.yaml", "--out", oracle)
    assert oracle.read_bytes() == before, "an existing oracle was replaced"
    assert main(["oracle", "sample", "--oracle", str(oracle), "-n", "5", "--out", str(tmp_path / "few.txt")]) == 0
    assert "already exists" in refused("oracle", "sample", "--oracle", oracle, "-n", "9", "--out", tmp_path / "few.txt")
    assert len((tmp_path / "few.txt").read_text().splitlines()) == 5
    err = refused("oracle", "sample", "--oracle", tmp_path, "-n", "5", "--out", tmp_path / "x.txt")
    assert str(tmp_path) in err and not (tmp_path / "x.txt").exists()  # a folder is not an oracle file
    err = refused("train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0",
                  f"data.train_file={tmp_path / 'few.txt'}", f"data.test_file={tmp_path / 'few.txt'}",
                  "--out", tmp_path / "run")
    assert "holds 5 sequences, fewer than data.batch_size = 32" in err and not (tmp_path / "run").exists()
    with pytest.raises(SystemExit):
        main(["oracle", "sample", "--oracle", str(oracle), "-n", "5", "--seed", "-1", "--out", "unused.txt"])
    assert "expected a seed: an integer >= 0, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["oracle", "import-seqgan", "p.pkl", "--seq-len", "1", "--out", "unused.sgw"])
    assert "expected a sequence length of at least 2, got 1" in capsys.readouterr().err


@pytest.mark.smoke
@pytest.mark.ray
def test_train_on_local_ray(tmp_path):
    """The README's main job: the smoke preset on a local Ray with rollout actors."""
    run = tmp_path / "run"
    seqgan("train", "--config", "deploy/configs/smoke.yaml", "--out", run)
    adv = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"adv"' in line]
    assert len(adv) == 3 and all(r["units_rerun"] == 0 and 1 <= r["version_lag_max"] <= 3 for r in adv)


@pytest.mark.smoke
def test_oracle_import_seqgan(tmp_path):
    import pickle

    import numpy as np
    rng = np.random.default_rng(0)
    v, e, h = 60, 4, 6
    arrays = [rng.normal(size=(v, e))] + [rng.normal(size=s) for _ in range(4) for s in ((e, h), (h, h), (h,))]
    arrays += [rng.normal(size=(h, v)), rng.normal(size=(v,))]
    (tmp_path / "target.pkl").write_bytes(pickle.dumps([a.astype(np.float32) for a in arrays], protocol=0))
    seqgan("oracle", "import-seqgan", tmp_path / "target.pkl", "--seq-len", 10, "--out", tmp_path / "o.sgw")
    seqgan("oracle", "sample", "--oracle", tmp_path / "o.sgw", "-n", 200, "--out", tmp_path / "real.txt")
    assert float(seqgan("eval", "--oracle", tmp_path / "o.sgw", tmp_path / "real.txt").stdout) < math.log(v)
    (tmp_path / "evil.pkl").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    bad = seqgan("oracle", "import-seqgan", tmp_path / "evil.pkl", "--out", tmp_path / "e.sgw", check=False)
    assert bad.returncode == 2 and "os.system" in bad.stderr and "only numpy arrays" in bad.stderr and not (tmp_path / "e.sgw").exists()
    start = seqgan("oracle", "import-seqgan", tmp_path / "target.pkl", "--start-token", v, "--out", tmp_path / "s.sgw",
                   check=False)
    assert start.returncode == 2 and "start token 60" in start.stderr and "[0, 60)" in start.stderr, start.stderr
    assert not (tmp_path / "s.sgw").exists()


@pytest.mark.smoke
@pytest.mark.parametrize("argv", [["sample", "--run", "RUN", "-n", "-3", "--out", "OUT"],
                                  ["oracle", "sample", "--oracle", "O", "-n", "0", "--out", "OUT"],
                                  ["bench", "rollout", "--rollouts", "0"]])
def test_counts_must_be_positive(argv):
    out = seqgan(*argv, check=False)
    assert out.returncode == 2 and "expected a positive integer" in out.stderr and "Traceback" not in out.stderr


def ratio_of_rounded(ratio: float, top: float, bottom: float, places: int = 3) -> bool:
    """`ratio` (rounded to 2 places) is top / bottom, for times the bench rounded to `places`."""
    half = 0.5 * 10 ** -places
    return (top - half) / (bottom + half) - 0.005 <= ratio <= (top + half) / (bottom - half) + 0.005


@pytest.mark.smoke
def test_bench_rollout_reports_times_ratio_and_ceiling():
    out = seqgan("bench", "rollout", "--batch", 4, "--seq-len", 20, "--rollouts", 2, "--repeats", 1, "--json")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert (result["batch"], result["seq_len"], result["rollouts"]) == (4, 20, 2)
    assert all(result[k] > 0 for k in ("fast_s", "reference_s", "floor_s"))
    assert ratio_of_rounded(result["speedup"], result["reference_s"], result["fast_s"])
    assert ratio_of_rounded(result["speedup_ceiling"], result["reference_s"], result["floor_s"])
    assert result["machine"]["cores"] >= 1 and result["device"] == "cpu"
    assert result["units"] == 1  # auto on a CPU: 4 samples x 19 prefixes x 2 rollouts fit one unit of 2,048
    # peak RSS growth of a fresh process: above nothing, well within the default 1 GiB budget
    assert 0 <= result["peak_bytes"] <= result["memory_budget"] == 1 << 30  # 0: pages swapped out mid-run
    assert result["d_conv"]["saved"] > 0 and result["fast_over_floor"] > 0
    parts = result["floor_parts"]  # the floor is its parts: LSTM steps, sampling, D's unshared windows, D's head
    assert set(parts) == {"lstm_s", "sample_s", "d_conv_s", "d_head_s"} and min(parts.values()) > 0
    assert abs(sum(parts.values()) - result["floor_s"]) <= 0.003


@pytest.mark.smoke
def test_bench_rollout_takes_overrides_its_flags_win_and_a_bad_key_is_named():
    out = seqgan("bench", "rollout", "--batch", 4, "--rollouts", 2, "--repeats", 1, "--json",
                 "--set", "rollout.unit_prefixes=5", "data.batch_size=8")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["units"] == 4 and result["batch"] == 4  # ceil(19 / 5) spans; the bench's own --batch wins
    bad = seqgan("bench", "rollout", "--repeats", 1, "--set", "rollout.unit_size=4", check=False)
    assert bad.returncode == 2 and "rollout.unit_size" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


@pytest.mark.smoke
def test_bench_rollout_at_several_lengths_draws_a_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = seqgan("bench", "rollout", "--batch", 2, "--seq-len", 20, 24, "--rollouts", 2, "--repeats", 1,
                 "--no-reference", "--json", "--plot", tmp_path / "rollout.png")
    records = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [r["seq_len"] for r in records] == [20, 24] and all(r["reference_s"] is None for r in records)
    assert (tmp_path / "rollout.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.smoke
def test_bench_flops_reports_the_share_prefix_sharing_saves():
    out = seqgan("bench", "flops", "--seq-len", 20, 200, "--json")
    saved = [json.loads(line)["d_conv"]["saved"] for line in out.stdout.strip().splitlines()]
    assert 0 < saved[0] < saved[1] < 0.5  # sharing saves more as T grows, below half of the windows


@pytest.mark.smoke
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error without a GPU")
def test_bench_rollout_on_cuda_without_a_gpu_is_a_clear_error():
    out = seqgan("bench", "rollout", "--device", "cuda", "--repeats", 1, check=False)
    assert out.returncode == 2 and "--device is 'cuda' but no CUDA device" in out.stderr, out.stderr


@pytest.mark.smoke
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error without a GPU")
def test_train_on_cuda_without_a_gpu_is_a_clear_error_and_writes_nothing(tmp_path):
    out = seqgan("train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0",
                 "learner.device=cuda", "--out", tmp_path / "run", check=False)
    assert out.returncode == 2 and "learner.device is 'cuda' but no CUDA device" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


@pytest.mark.smoke
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error without a GPU")
def test_a_learner_actor_that_cannot_start_is_a_clear_error_and_writes_nothing(tmp_path):
    out = seqgan("train", "--config", "deploy/configs/smoke.yaml", "--set", "learner.device=cuda",
                 "--out", tmp_path / "run", check=False)  # the smoke preset has 2 workers: the learner is an actor
    assert out.returncode == 2, out.stderr
    assert "the learner actor could not start" in out.stderr and "no CUDA device" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


@pytest.mark.smoke
@pytest.mark.ray
def test_a_local_cluster_too_small_for_the_actors_is_a_clear_error_and_writes_nothing(tmp_path):
    out = seqgan("train", "--config", "deploy/configs/smoke.yaml", "--set", "ray.num_cpus=2", "rollout.num_cpus=3",
                 "--out", tmp_path / "run", check=False)  # 2 workers x 3 CPUs on a 2-CPU local cluster
    assert out.returncode == 2, out.stderr
    assert "the local Ray cluster has 2 CPU" in out.stderr and "rollout.num_cpus = 3 ask for 6" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


@pytest.mark.smoke
def test_bench_scaling_in_process_baseline_and_bad_worker_count():
    out = seqgan("bench", "scaling", "--workers", 0, "--seq-lens", 20, "--rollouts", 1, 2, "--batch", 4,
                 "--repeats", 1, "--json")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result["throughput"]) == {"T20_N1_K0", "T20_N2_K0"} and min(result["throughput"].values()) > 0
    assert result["speedup_0v0"] == {"T20_N1": 1.0, "T20_N2": 1.0} and result["broadcast_s_per_version"] is None
    assert result["units"] == {"T20_N1_K0": 1, "T20_N2_K0": 1} and result["batch"] == 4
    bad = seqgan("bench", "scaling", "--workers", 1, -2, check=False)
    assert bad.returncode == 2 and "--workers [1, -2]" in bad.stderr, bad.stderr
