"""Checked checkpoints: every file a resume reads (and the run's config.yaml) is checked against the
manifest written last in its checkpoint, and cleanup deletes only what that manifest proves this run
wrote: a kill's partial folder is moved aside, anything else is left as it is."""
import shutil

import pytest
import torch

from learner.cli import main
from learner.learner import Learner
from learner.run.checkpoint import INCOMPLETE, ROOT, check_ahead, latest_name, load_checkpoint, save_checkpoint
from learner.run.manifest import MANIFEST
from learner.run.store import RunStore
from run_support import ROOT as PROJECT
from seqgan.errors import BadFileError

SMOKE = str(PROJECT / "deploy/configs/smoke.yaml")
SHORT = ["rollout.num_workers=0", "learner.torch_threads=1", "train.mle_epochs=2", "train.disc_pretrain_rounds=0",
         "train.adv_iterations=0", "train.eval_every=2", "train.checkpoint_every=1"]
FILES = ["generator.sgw", "rollout.sgw", "discriminator.sgw", "optimizers.pt", "rng.pt", "progress.json"]


@pytest.fixture(autouse=True)
def torch_threads_kept():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A short run, finished; copies of it without summary.json resume (to nothing left to do)."""
    saved = torch.get_num_threads()
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", "--config", SMOKE, "--set", *SHORT, "--out", str(run)]) == 0
    torch.set_num_threads(saved)
    return run


@pytest.fixture
def resumable(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run, symlinks=True)
    (run / "summary.json").unlink()
    return run


def resume_refused(run, capsys) -> str:
    before = (run / "metrics.jsonl").read_bytes()
    assert main(["train", "--resume", str(run)]) == 2
    assert (run / "metrics.jsonl").read_bytes() == before, "a refused resume touched the run"
    return capsys.readouterr().err


@pytest.mark.unit
@pytest.mark.parametrize("file", FILES)
def test_a_flipped_byte_in_any_checkpoint_file_is_refused_naming_it(resumable, capsys, file):
    path = resumable / ROOT / (resumable / ROOT / "latest").read_text() / file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    err = resume_refused(resumable, capsys)
    assert f"{file} does not match its sha256 in {MANIFEST}" in err and "step-00000002" in err, err


@pytest.mark.unit
def test_an_edited_config_is_refused_on_resume_and_the_intact_run_resumes(resumable, capsys):
    config = resumable / "config.yaml"
    original = config.read_text()
    config.write_text(original.replace("seed: 0", "seed: 5"))
    err = resume_refused(resumable, capsys)
    assert "the run's config.yaml is not the one this checkpoint was written with" in err, err
    config.write_text(original)
    assert main(["train", "--resume", str(resumable)]) == 0, capsys.readouterr().err[-2000:]


@pytest.mark.unit
def test_a_symlinked_checkpoints_folder_keeps_what_this_run_did_not_write(resumable, tmp_path, capsys):
    elsewhere = tmp_path / "shared-checkpoints"
    shutil.move(resumable / ROOT, elsewhere)
    (resumable / ROOT).symlink_to(elsewhere)
    (elsewhere / "step-00000007").mkdir()
    (elsewhere / "step-00000007" / "notes.txt").write_text("mine")
    err = resume_refused(resumable, capsys)
    assert "step-00000007 holds what this run did not write (notes.txt)" in err, err
    assert (elsewhere / "step-00000007" / "notes.txt").read_text() == "mine"


@pytest.mark.unit
def test_cleanup_deletes_only_what_its_manifest_proves_and_sets_partial_folders_aside(tmp_path, smoke_config):
    torch.manual_seed(0)
    state = Learner(smoke_config).state()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ROOT).symlink_to(elsewhere)
    run = RunStore(tmp_path / "run")

    def save(step: int) -> None:
        save_checkpoint(run, state, {"steps_done": step, "records": step, "pending": None, "wall_s": 0.0})

    def folders() -> list[str]:
        return sorted(p.name for p in elsewhere.iterdir() if p.name.startswith("step-"))

    save(1)
    save(2)
    (elsewhere / "step-00000001" / "notes.txt").write_text("a user's")
    save(3)  # step-1 is past KEEP, but not provably ours
    assert folders() == ["step-00000001", "step-00000002", "step-00000003"]
    assert (elsewhere / "step-00000001" / "notes.txt").read_text() == "a user's"
    save(4)  # step-2 is provably ours
    assert folders() == ["step-00000001", "step-00000003", "step-00000004"]

    (elsewhere / "step-00000009").mkdir()  # a kill mid-write: some of our files, no manifest
    (elsewhere / "step-00000009" / "generator.sgw").write_bytes(b"half")
    (elsewhere / "step-00000008").mkdir()
    (elsewhere / "step-00000008" / "generator.sgw").write_bytes(b"someone's")
    (elsewhere / "step-00000008" / "data.csv").write_bytes(b"1,2")
    save(5)
    assert folders() == ["step-00000001", "step-00000004", "step-00000005", "step-00000008"]
    [aside] = (elsewhere / INCOMPLETE).iterdir()
    assert aside.name.startswith("step-00000009-") and (aside / "generator.sgw").read_bytes() == b"half"
    assert (elsewhere / "step-00000008" / "data.csv").read_bytes() == b"1,2"
    with pytest.raises(FileExistsError, match="step-00000008 holds what this run did not write \\(data.csv\\)"):
        check_ahead(run, latest_name(run))
    with pytest.raises(FileExistsError, match="data.csv"):
        save(8)
    assert sorted(p.name for p in (elsewhere / "step-00000008").iterdir()) == ["data.csv", "generator.sgw"]
    assert latest_name(run) == "step-00000005" and load_checkpoint(run).progress["steps_done"] == 5


@pytest.mark.unit
def test_a_checkpoint_without_its_manifest_is_not_resumed(tmp_path, smoke_config):
    run = RunStore(tmp_path)
    name = save_checkpoint(run, Learner(smoke_config).state(), {"steps_done": 1, "records": 1, "pending": None})
    (tmp_path / ROOT / name / MANIFEST).unlink()
    with pytest.raises(BadFileError, match=f"{name} is damaged: it has no {MANIFEST}"):
        load_checkpoint(run)
