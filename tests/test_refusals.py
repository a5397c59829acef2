"""Bad input and bad moments named for what they are: run directories that are not folders, a full
disk, a NaN in an adversarial iteration's D round, a pickle that cannot be read, duplicate YAML keys,
a huge config file, NaN scores in a report, --sample past the file, a foreign generator.sgw, and
what an interrupted command says."""
import errno
import json
import os
import pickle
import signal
import sys

import numpy as np
import pytest
import torch

from learner.methods import method_for
from learner.run.manifest import sha256
from learner.cli import main

SMOKE = "deploy/configs/smoke.yaml"
INLINE = ["--config", SMOKE, "--set", "rollout.num_workers=0"]


def refused(capsys, *argv, status: int = 2) -> str:
    assert main([*map(str, argv)]) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.fixture
def step0_run(tmp_path, smoke_config):
    """A run directory with its config and step-0 checkpoint (what `sample --run` reads)."""
    from actors.inline_pool import InlinePool
    from learner.driver import Trainer
    from learner.learner import Learner

    run = tmp_path / "run"
    Trainer(smoke_config, run, Learner(smoke_config), InlinePool(smoke_config, method_for(smoke_config)))
    return run


@pytest.mark.unit
def test_an_out_that_is_not_a_folder_is_named_for_what_it_is(tmp_path, capsys):
    (tmp_path / "file").write_text("mine\n")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for out, said in ((tmp_path / "file", "is a file"), (tmp_path / "fifo", "is not a folder (a FIFO"),
                      ("/dev/null", "is not a folder (a FIFO, socket or device)"),
                      (tmp_path / "dangling", f"is a symbolic link to {str(tmp_path / 'nowhere')!r}, which does not")):
        err = refused(capsys, "train", *INLINE, "--out", out)
        assert f"run directory {str(out)!r} {said}" in err, err
    assert (tmp_path / "file").read_text() == "mine\n" and not (tmp_path / "nowhere").exists()


@pytest.mark.unit
def test_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    from seqgan.files import atomic_write_bytes

    (tmp_path / "kept.txt").write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"no space left to write '.*kept\.txt' \(No space left on device\)"):
        atomic_write_bytes(tmp_path / "kept.txt", [b"new\n"])
    assert (tmp_path / "kept.txt").read_text() == "old\n" and os.listdir(tmp_path) == ["kept.txt"]


@pytest.mark.unit
def test_a_nan_in_an_adversarial_d_round_is_named_by_its_iteration(tmp_path, monkeypatch):
    from actors.inline_pool import InlinePool
    from learner.driver import Trainer
    from learner.learner import Learner
    from seqgan.config_files import load_config

    config = load_config(SMOKE, ["rollout.num_workers=0", "data.num_train=32", "data.num_test=32",
                                 "train.eval_samples=32", "rollout.unit_samples=8"])
    learner = Learner(config)
    trainer = Trainer(config, tmp_path / "run", learner, InlinePool(config, method_for(config)))
    monkeypatch.setattr(learner.discriminator, "l2_loss", lambda: torch.tensor(float("nan")))
    trainer.broadcast_unpublished("generator", "rollout", "discriminator")
    with pytest.raises(FloatingPointError) as refused_round:
        trainer.adversarial_iteration(1)
    assert str(refused_round.value).startswith("adv step 1 (D round 1 of 1): d_loss is nan"), str(refused_round.value)


@pytest.mark.unit
def test_pickle_errors_give_the_reason_and_the_file(tmp_path, capsys):
    (tmp_path / "empty.pkl").write_bytes(b"")
    (tmp_path / "shapes.pkl").write_bytes(pickle.dumps([np.zeros((3, 4), np.float32)] * 15))
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x02}q\x00X")
    for name, said in (("empty.pkl", "is empty"), ("shapes.pkl", ": array 1 (W input): shape (3, 4), expected (4, 4)"),
                       ("junk.pkl", "is not a readable pickle of numpy arrays (struct.error: unpack requires")):
        err = refused(capsys, "oracle", "import-seqgan", tmp_path / name, "--out", tmp_path / f"{name}.sgw")
        assert f"SeqGAN oracle pickle {str(tmp_path / name)!r}" in err and said in err, err


@pytest.mark.unit
def test_duplicate_yaml_keys_and_huge_config_files_are_refused(tmp_path):
    from seqgan.config import ConfigError
    from seqgan.config_files import MAX_CONFIG_BYTES, load_config

    (tmp_path / "twice.yaml").write_text("model:\n  vocab_size: 60\n  seq_len: 10\n  vocab_size: 61\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml.*duplicate key 'vocab_size'.*line 4"):
        load_config(tmp_path / "twice.yaml")
    (tmp_path / "sections.yaml").write_text("model: {vocab_size: 60}\ntrain: {seed: 1}\nmodel: {seq_len: 10}\n")
    with pytest.raises(ConfigError, match="duplicate key 'model'"):
        load_config(tmp_path / "sections.yaml")
    (tmp_path / "huge.yaml").write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match=rf"huge\.yaml' is \d+ bytes, more than a config can be \(at most "
                                          rf"{MAX_CONFIG_BYTES}\)"):
        load_config(tmp_path / "huge.yaml")
    with pytest.raises(ConfigError, match="duplicate key 'seed'"):
        load_config(None, ["train={seed: 1, seed: 2}"])


@pytest.mark.unit
def test_report_names_a_nan_score_instead_of_printing_it(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("train: {seed: 0}\n")
    (run / "metrics.jsonl").write_text('{"phase": "mle", "step": 0, "nll_oracle": 5.0}\n'
                                       '{"phase": "adv", "step": 3, "nll_oracle": NaN}\n')
    err = refused(capsys, "report", run)
    assert f"run {str(run)!r}: its adv step 3 record holds nll_oracle = nan" in err, err


@pytest.mark.unit
def test_bleu_sample_larger_than_the_file_says_so(tmp_path, capsys):
    (tmp_path / "hyps.txt").write_text("a b c\nd e f\n")
    err = refused(capsys, "bleu", "--self", tmp_path / "hyps.txt", "--sample", 3)
    assert f"--sample 3 is more than the 2 hypotheses in {str(tmp_path / 'hyps.txt')!r}" in err, err
    assert main(["bleu", "--self", str(tmp_path / "hyps.txt"), "--sample", "2"]) == 0


@pytest.mark.unit
def test_sample_refuses_a_run_whose_generator_file_is_an_oracle(step0_run, tmp_path, capsys):
    from seqgan.oracle import new_oracle, save_oracle

    latest = step0_run / "checkpoints" / (step0_run / "checkpoints" / "latest").read_text().strip()
    (latest / "generator.sgw").unlink()
    save_oracle(new_oracle(60, 16, 16, 10, 0, seed=1), latest / "generator.sgw")  # the same class and sizes
    err = refused(capsys, "sample", "--run", step0_run, "-n", 5, "--out", tmp_path / "s.txt")
    assert "generator.sgw does not match its sha256 in manifest.json" in err, err  # the manifest sees it first
    manifest = json.loads((latest / "manifest.json").read_text())  # a manifest made to match: the kind still shows
    manifest["files"]["generator.sgw"] = sha256((latest / "generator.sgw").read_bytes())
    (latest / "manifest.json").write_text(json.dumps(manifest))
    err = refused(capsys, "sample", "--run", step0_run, "-n", 5, "--out", tmp_path / "s.txt")
    assert "generator.sgw holds 'oracle' weights, expected the run's generator" in err, err
    assert not (tmp_path / "s.txt").exists()


@pytest.mark.unit
def test_an_interrupted_train_names_its_run_directory_and_sample_no_resume(tmp_path, capsys, monkeypatch,
                                                                           step0_run):
    from learner.driver import Trainer
    from learner.stopping import Interrupted

    def stopped_at_once(self):
        raise Interrupted(signal.SIGTERM)
    monkeypatch.setattr(Trainer, "train", stopped_at_once)
    err = refused(capsys, "train", *INLINE, "--out", tmp_path / "new", status=128 + signal.SIGTERM)
    assert f"seqgan: interrupted; continue from the last checkpoint with: seqgan train --resume " \
           f"{(tmp_path / 'new').resolve()}\n" in err and "RUN_DIR" not in err, err

    from learner.commands import generate

    def interrupted(*args):
        yield b"1 2 3\n"
        raise KeyboardInterrupt
    monkeypatch.setattr(generate, "_sample_text", interrupted)
    err = refused(capsys, "sample", "--run", step0_run, "-n", 5, "--out", tmp_path / "s.txt", status=130)
    assert err.strip().endswith("seqgan: interrupted") and "resume" not in err, err
    assert not list(tmp_path.glob("*s.txt*")), "a partial sample file was left"


@pytest.mark.unit
def test_a_second_sigterm_stops_at_once(capsys):
    from learner.stopping import StopFlag

    with StopFlag() as stop:
        os.kill(os.getpid(), signal.SIGTERM)  # the first: finish the step, then stop
        assert stop.requested and stop.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt) as now:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100):  # the handler runs between bytecodes; give it a few
                pass
        assert now.value.signum == signal.SIGTERM and now.value.exit_code == 143


@pytest.mark.smoke
def test_sample_removes_its_temporary_file_on_sigterm(step0_run, tmp_path):
    import subprocess
    import time

    from run_support import ROOT

    out = tmp_path / "many.txt"
    process = subprocess.Popen([sys.executable, "-m", "learner.cli", "sample", "--run", str(step0_run), "-n",
                                "100000000", "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # generous: a loaded machine starts and stops processes slowly
        while not list(tmp_path.glob(".many.txt.*.tmp")):
            assert process.poll() is None and time.monotonic() < deadline, "sample never started writing"
            time.sleep(0.05)
        time.sleep(1.0)  # a SIGTERM in the first instants of the sampling is not always seen (an open race)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:  # never leave a sampler of 10^8 sequences running
            process.kill()
            process.wait()
    err = process.stderr.read()
    assert "seqgan: interrupted" in err and "resume" not in err and "Traceback" not in err, err
    assert not list(tmp_path.glob("*many.txt*")), "the temporary sample file was left behind"
