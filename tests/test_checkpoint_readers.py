"""Checkpoint readers only say yes or no: a checkpoint whose files are damaged in any way loads (the
bytes still mean the same) or is a BadFileError that names the checkpoint, never another exception."""
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learner.run.checkpoint import ROOT, load_checkpoint, save_checkpoint
from learner.learner import Learner
from learner.run.store import RunStore
from seqgan.errors import BadFileError

EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
FILES = ["progress.json", "optimizers.pt", "rng.pt", "generator.sgw", "rollout.sgw", "discriminator.sgw"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, ):
    from seqgan.config_files import load_config
    config = load_config("deploy/configs/smoke.yaml", ["rollout.num_workers=0"])
    folder = tmp_path_factory.mktemp("saved")
    name = save_checkpoint(RunStore(folder), Learner(config).state(),
                           {"steps_done": 3, "records": 2, "pending": {"phase": "mle", "step": 2}, "wall_s": 1.0})
    return folder, name


def damaged_copy(saved, tmp_path, file: str, mutate) -> RunStore:
    folder, name = saved
    copy = tmp_path / "run"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy)
    path = copy / ROOT / name / file
    path.write_bytes(mutate(path.read_bytes()))
    return RunStore(copy)


def loads_or_says_so(run: RunStore) -> None:
    try:
        load_checkpoint(run)
    except BadFileError as error:
        assert "checkpoint" in str(error) and str(run) in str(error), error


@pytest.mark.unit
@EXAMPLES
@given(file=st.sampled_from(FILES), position=st.floats(0, 1), bit=st.integers(0, 7))
def test_a_flipped_bit_in_any_checkpoint_file(saved, tmp_path, file, position, bit):
    def flip(data: bytes) -> bytes:
        at = min(len(data) - 1, int(position * len(data)))
        return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:]
    loads_or_says_so(damaged_copy(saved, tmp_path, file, flip))


@pytest.mark.unit
@EXAMPLES
@given(file=st.sampled_from(FILES), keep=st.floats(0, 1), junk=st.binary(max_size=64))
def test_a_truncated_or_replaced_checkpoint_file(saved, tmp_path, file, keep, junk):
    loads_or_says_so(damaged_copy(saved, tmp_path, file, lambda data: data[:int(keep * len(data))] + junk))


@pytest.mark.unit
@EXAMPLES
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4)),
       key=st.sampled_from(["steps_done", "records", "versions", "pending", "wall_s"]))
def test_progress_json_with_any_value_in_any_field(saved, tmp_path, value, key):
    def replace(data: bytes) -> bytes:
        progress = json.loads(data)
        progress[key] = value
        return json.dumps(progress).encode()
    loads_or_says_so(damaged_copy(saved, tmp_path, "progress.json", replace))


@pytest.mark.unit
def test_a_latest_pointer_to_nothing_or_to_garbage_is_named(saved, tmp_path):
    run = damaged_copy(saved, tmp_path, "progress.json", lambda data: data)
    (run.local / ROOT / "latest").write_text("step-00000099")
    with pytest.raises(BadFileError, match="step-00000099 is damaged"):
        load_checkpoint(run)
    (run.local / ROOT / "latest").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="latest"):
        load_checkpoint(run)
