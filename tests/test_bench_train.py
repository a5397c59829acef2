"""`seqgan bench train`: per-phase times and the projection of a whole run, at tiny sizes, in process."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from learner.cli import main
from seqgan.config_files import load_config

TINY = ["model.vocab_size=50", "model.seq_len=10", "discriminator.filter_sizes=[1,2]",
        "discriminator.num_filters=[4,4]", "data.num_train=200", "data.num_test=64", "train.eval_samples=128",
        "rollout.num_rollouts=2", "train.mle_epochs=7", "train.eval_every=3", "train.adv_iterations=4",
        "train.disc_pretrain_rounds=2"]


def bench_json(capsys, *extra):
    assert main(["bench", "train", "--json", "--repeats", "1", "--batches", "2", *extra, "--set", *TINY]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.smoke
def test_bench_train_times_every_phase_and_projects_the_run_from_the_config_counts(capsys):
    threads = torch.get_num_threads()
    result = bench_json(capsys, "--threads", "1")
    assert result["machine"]["torch_threads"] == 1 and torch.get_num_threads() == threads  # restored after
    phases = result["phases"]
    assert set(phases) == {"mle_epoch", "d_step", "sample_negatives", "sample_pg", "rewards", "pg_step",
                           "broadcast", "eval_mle", "eval_adv"}
    assert all(p["seconds"] > 0 and p["projected_s"] >= 0 for p in phases.values())
    t = load_config("deploy/configs/paper.yaml", TINY).train
    rounds = t.disc_pretrain_rounds + t.adv_iterations * t.d_steps
    assert phases["d_step"]["count"] == rounds * t.disc_epochs * math.ceil(2 * 200 / 64)
    assert phases["mle_epoch"]["count"] == 7 and phases["sample_negatives"]["count"] == rounds
    assert phases["rewards"]["count"] == phases["pg_step"]["count"] == 4 * t.g_steps
    assert phases["eval_mle"]["count"] == 3  # epochs 3, 6 and the last, 7
    assert phases["eval_adv"]["count"] == 2 + 1  # iterations 3 and 4, and the end of D pre-training
    projected = sum(p["seconds"] * p["count"] for p in phases.values())
    assert result["projected_total_s"] == pytest.approx(projected, abs=1e-3)
    assert result["projected_total_h"] == pytest.approx(projected / 3600, abs=1e-3)
    assert "2 of the 3 batches" in phases["mle_epoch"]["how"]  # scaled from the batches timed
    assert result["sizes"]["vocab_size"] == 50 and result["sizes"]["num_train"] == 200
    assert result["machine"]["cores"] >= 1 and len(result["load_average"]) == 3
    assert result["device"] == "cpu" and result["cuda_graphs"] is False


@pytest.mark.smoke
def test_bench_train_prints_a_table_and_names_a_bad_key(capsys):
    assert main(["bench", "train", "--repeats", "1", "--batches", "1", "--threads", "1", "--set", *TINY]) == 0
    table = capsys.readouterr().out
    assert "projected total" in table and "d_step" in table and "machine" in table
    assert main(["bench", "train", "--set", "train.no_such_key=1"]) == 2
    assert "train.no_such_key" in capsys.readouterr().err


@pytest.mark.smoke
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_bench_train_on_cuda_without_a_gpu_is_a_clear_error(capsys):
    assert main(["bench", "train", "--device", "cuda", "--set", *TINY]) == 2
    assert "--device is 'cuda' but no CUDA device" in capsys.readouterr().err


@pytest.mark.smoke
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a CPU set of two or more cores to narrow")
def test_the_default_thread_count_follows_the_cores_the_process_may_use_not_the_machine():
    one_core = {min(os.sched_getaffinity(0))}  # as `taskset -c N seqgan ...`
    done = subprocess.run([sys.executable, "-m", "learner.cli", "bench", "train", "--json", "--repeats", "1",
                           "--batches", "1", "--set", *TINY], preexec_fn=lambda: os.sched_setaffinity(0, one_core),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["machine"]["torch_threads"] == 1
