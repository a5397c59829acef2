"""Weight packing, .sgw files, token files, oracle files and checkpoints."""
import json
import math
import os
import zlib

import msgpack
import numpy as np
import pytest
import torch

from learner.run.checkpoint import latest_name, load_checkpoint, save_checkpoint
from learner.learner import Learner
from learner.run.store import RunStore
from seqgan.data.tokens import read_tokens, read_vocabulary, write_tokens
from seqgan.errors import BadFileError
from seqgan.metrics import nll_per_token
from seqgan.models import Generator
from seqgan.oracle import load_oracle, new_oracle, save_oracle
from seqgan.packing import MAGIC, PackedWeights, load_into, pack_state, read_packed, unpack_state, write_packed
from seqgan.seeding import uniforms


@pytest.mark.unit
def test_pack_round_trip_from_a_read_only_buffer():
    model = Generator(9, 4, 5, 3)
    packed = pack_state(model.state_dict(), "generator", 7)
    assert packed.model == "generator" and packed.version == 7 and packed.buffer.dtype == np.uint8
    frozen = type(packed)(packed.header, packed.buffer.copy())
    frozen.buffer.flags.writeable = False  # as the object store hands it out
    other = Generator(9, 4, 5, 3)
    load_into(other, frozen)
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.unit
def test_load_into_refuses_mismatched_weights():
    packed = pack_state(Generator(9, 4, 5, 3).state_dict(), "generator", 0)
    with pytest.raises(ValueError, match=r"embedding.weight: shape \(9, 4\), expected \(10, 4\)"):
        load_into(Generator(10, 4, 5, 3), packed)
    with pytest.raises(ValueError, match="missing"):
        load_into(torch.nn.Linear(2, 2), packed)


@pytest.mark.unit
def test_sgw_file_round_trip_and_refusals(tmp_path):
    state = {"a": torch.arange(6.0).view(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    write_packed(tmp_path / "w.sgw", pack_state(state, "m", 3, {"note": "x"}))
    back = read_packed(tmp_path / "w.sgw")
    assert back.meta["meta"] == {"note": "x"}
    for name, tensor in unpack_state(back).items():
        assert torch.equal(tensor, state[name])
    (tmp_path / "pickle.sgw").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match="not a seqgan weights file"):
        read_packed(tmp_path / "pickle.sgw")
    with pytest.raises(BadFileError, match="nope.sgw.* does not exist"):
        read_packed(tmp_path / "nope.sgw")
    assert (tmp_path / "w.sgw").read_bytes().startswith(MAGIC)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    umask = os.umask(0o022)
    try:  # the mode a plain open() gives, not mkstemp's private 0600
        write_packed(tmp_path / "shared.sgw", pack_state(state, "m", 0))
    finally:
        os.umask(umask)
    assert (tmp_path / "shared.sgw").stat().st_mode & 0o777 == 0o644


def sealed(header: dict, buffer: np.ndarray) -> bytes:
    """The header with the checksum the format defines: CRC-32 of the msgpack of the other fields,
    continued over the buffer (so an edited header reaches the checks past the checksum)."""
    fields = {key: value for key, value in header.items() if key != "checksum"}
    return msgpack.packb({**fields, "checksum": zlib.crc32(buffer, zlib.crc32(msgpack.packb(fields)))})


def with_header(packed: PackedWeights, edit) -> PackedWeights:
    header = packed.meta
    edit(header)
    return PackedWeights(sealed(header, packed.buffer), packed.buffer)


@pytest.mark.unit
@pytest.mark.parametrize("edit, words", [
    (lambda h: h.pop("meta"), ["expected a map with model, version, meta, tensors, nbytes and checksum"]),
    (lambda h: h["tensors"][0].update(offset=-64), ["offset -64"]),
    (lambda h: h["tensors"][0].update(shape=[3, 3]), ["'a'", "24 bytes", "needs 36"]),
    (lambda h: h["tensors"][1].update(dtype="object"), ["unsupported dtype 'object'"]),
    (lambda h: h.update(tensors={"a": 1}), ["tensors a list"]),
])
def test_damaged_sgw_headers_are_named(tmp_path, edit, words):
    state = {"a": torch.arange(6.0).view(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    write_packed(tmp_path / "d.sgw", with_header(pack_state(state, "m", 0), edit))
    with pytest.raises(ValueError, match="d.sgw.*corrupt header") as error:
        read_packed(tmp_path / "d.sgw")
    assert all(word in str(error.value) for word in words), str(error.value)


@pytest.mark.unit
def test_an_oracle_whose_sizes_disagree_with_its_tensors_is_named(tmp_path):
    oracle = new_oracle(vocab_size=60, embed_dim=4, hidden_dim=6, seq_len=10, start_token=0, seed=1)
    packed = pack_state(oracle.state_dict(), "oracle", 0, {"vocab_size": 61, "embed_dim": 4, "hidden_dim": 6,
                                                           "seq_len": 10, "start_token": 0})
    write_packed(tmp_path / "o.sgw", packed)
    with pytest.raises(ValueError, match=r"o.sgw.*embedding.weight: shape \(60, 4\), expected \(61, 4\)"):
        load_oracle(tmp_path / "o.sgw")
    write_packed(tmp_path / "o.sgw", with_header(packed, lambda h: h["meta"].pop("hidden_dim")))
    with pytest.raises(ValueError, match="o.sgw.*oracle sizes"):
        load_oracle(tmp_path / "o.sgw")


@pytest.mark.unit
def test_token_files(tmp_path):
    tokens = torch.tensor([[1, 2, 3], [4, 0, 5]])
    write_tokens(tmp_path / "t.txt", tokens)
    assert (tmp_path / "t.txt").read_text() == "1 2 3\n4 0 5\n"
    assert torch.equal(read_tokens(tmp_path / "t.txt", 6, 3), tokens)
    write_tokens(tmp_path / "w.txt", tokens, [f"w{i}" for i in range(6)])
    assert (tmp_path / "w.txt").read_text().splitlines()[0] == "w1 w2 w3"
    for text, message in [("1 2\n", "2 tokens, expected model.seq_len = 3"),
                          ("1 2 9\n", "token id 9 outside"), ("1 x 2\n", "expected integer token ids")]:
        (tmp_path / "bad.txt").write_text("0 0 0\n" + text)
        with pytest.raises(ValueError, match=message) as error:
            read_tokens(tmp_path / "bad.txt", 6, 3)
        assert "bad.txt:2" in str(error.value)
    (tmp_path / "latin.txt").write_bytes(b"1 2 \xff\n")
    with pytest.raises(ValueError, match="token file .*latin.txt.* is not UTF-8"):
        read_tokens(tmp_path / "latin.txt", 6, 3)
    with pytest.raises(ValueError, match="vocabulary .*latin.txt.* is not UTF-8"):
        read_vocabulary(tmp_path / "latin.txt", 6)
    with pytest.raises(BadFileError, match="vocabulary .*nope.txt.* does not exist"):
        read_vocabulary(tmp_path / "nope.txt", 6)


@pytest.mark.unit
def test_oracle_file_and_own_samples_nll(tmp_path):
    oracle = new_oracle(vocab_size=200, embed_dim=32, hidden_dim=32, seq_len=20, start_token=0, seed=88)
    assert not any(p.requires_grad for p in oracle.parameters())
    weights = torch.cat([p.flatten() for p in oracle.parameters()])
    assert abs(weights.std().item() - 1.0) < 0.05  # N(0, 1)
    save_oracle(oracle, tmp_path / "oracle.sgw")
    loaded = load_oracle(tmp_path / "oracle.sgw")
    samples = loaded.sample(uniforms(1, (2000, 20)))
    assert torch.equal(samples, oracle.sample(uniforms(1, (2000, 20))))
    own = nll_per_token(loaded, samples)
    assert own < 0.8 * math.log(200), f"oracle's own NLL {own} not well below uniform {math.log(200)}"
    other = new_oracle(200, 32, 32, 20, 0, seed=89)
    assert nll_per_token(other, samples) > own + 1.0
    write_packed(tmp_path / "gen.sgw", pack_state(oracle.state_dict(), "generator", 0))
    with pytest.raises(ValueError, match="expected an oracle"):
        load_oracle(tmp_path / "gen.sgw")


@pytest.mark.unit
def test_checkpoint_round_trip_and_latest_pointer(tmp_path, smoke_config):
    run = RunStore(tmp_path)
    learner = Learner(smoke_config)
    learner.load_real_data(torch.randint(0, 60, (64, 10)), torch.randint(0, 60, (8, 10)))
    learner.mle_epoch(0)
    for step in (1, 2, 3):
        save_checkpoint(run, learner.state(), {"steps_done": step, "records": step, "pending": None})
    assert latest_name(run) == "step-00000003"
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*")) == ["step-00000002", "step-00000003"]
    # A half-written newer checkpoint (killed mid-write) is not what `latest` names.
    (tmp_path / "checkpoints" / "step-00000004").mkdir()
    checkpoint = load_checkpoint(run)
    assert checkpoint.progress == {"steps_done": 3, "records": 3, "pending": None}
    fresh = Learner(smoke_config)
    fresh.load_state(checkpoint.state)
    assert fresh.versions == learner.versions
    for a, b in zip(fresh.generator.parameters(), learner.generator.parameters()):
        assert torch.equal(a, b)
    assert fresh.optimizers["mle"].state_dict()["state"][0]["step"] == learner.optimizers["mle"].state_dict()["state"][0]["step"]
    assert json.loads((tmp_path / "checkpoints" / "step-00000003" / "progress.json").read_text())["versions"] == learner.versions
