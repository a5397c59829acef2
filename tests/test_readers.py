"""Readers of user files only say yes or no: each loads the file, or raises BadFileError (a
ValueError) naming the file and what was wrong. Never another exception, a hang, or an allocation
sized by a number in the file."""
import os
import pickle
import signal
import tracemalloc
import zlib
from contextlib import contextmanager
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from seqgan.config import ConfigFileError
from seqgan.config_files import load_config
from seqgan.data.tokens import read_tokens, read_vocabulary
from seqgan.errors import BadFileError
from seqgan.models import Generator
from seqgan.oracle import load_oracle, new_oracle, save_oracle
from seqgan.packing import (MAGIC, MAGIC_V1, PackedWeights, load_into, pack_state, read_packed, unpack_state,
                            write_packed)
from seqgan.seqgan_pickle import load_seqgan_arrays

V, E, H, T = 12, 3, 4, 5
# Derandomized, no example database: every run tries the same inputs (as the rest of the suite
# uses fixed seeds) and leaves nothing behind in the tree.
EXAMPLES = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
TOKENS = b"1 2 3 4 5\n6 7 8 9 10\n0 0 11 11 0\n"
VOCABULARY = "".join(f"w{i}\n" for i in range(V)).encode()


def oracle_file(folder: Path) -> bytes:
    save_oracle(new_oracle(V, E, H, T, 0, seed=3), folder / "o.sgw")
    return (folder / "o.sgw").read_bytes()


def paper_pickle(protocol: int) -> bytes:
    rng = np.random.default_rng(0)
    shapes = [(V, E)] + [(E, H), (H, H), (H,)] * 4 + [(H, V), (V,)]
    return pickle.dumps([rng.normal(size=s).astype(np.float32) for s in shapes], protocol=protocol)


READERS = {
    "weights": read_packed,
    "oracle": load_oracle,
    "tokens": lambda path: read_tokens(path, V, T),
    "vocabulary": lambda path: read_vocabulary(path, V),
    "config": load_config,
    "pickle": load_seqgan_arrays,
}


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory) -> dict[str, bytes]:
    """One valid file per reader, as bytes."""
    oracle = oracle_file(tmp_path_factory.mktemp("oracle"))
    return {"weights": oracle, "oracle": oracle, "tokens": TOKENS, "vocabulary": VOCABULARY,
            "config": Path("deploy/configs/smoke.yaml").read_bytes(), "pickle": paper_pickle(0)}


def loads_or_refuses(reader, path: Path):
    """The reader's result, or None when it refused with a BadFileError naming the file."""
    try:
        return reader(path)
    except BadFileError as error:
        assert str(path) in str(error), f"the message does not name the file: {error}"
        return None


def refusal(reader, path: Path, *words: str) -> str:
    with pytest.raises(BadFileError) as error:
        reader(path)
    message = str(error.value)
    assert str(path) in message, message
    assert all(word in message for word in words), message
    return message


# -- any bytes, any mutation ------------------------------------------------------------------
@st.composite
def mutations(draw, original: bytes) -> bytes:
    """A bit flip, a cut, an insertion or an overwrite somewhere in `original`."""
    kind = draw(st.sampled_from(["flip", "cut", "insert", "overwrite"]))
    at = draw(st.integers(0, len(original) - 1))
    if kind == "flip":
        return original[:at] + bytes([original[at] ^ (1 << draw(st.integers(0, 7)))]) + original[at + 1:]
    if kind == "cut":
        return original[:at]
    added = draw(st.binary(min_size=1, max_size=16))
    return original[:at] + added + original[at + (len(added) if kind == "overwrite" else 0):]


@pytest.mark.unit
@pytest.mark.parametrize("kind", READERS)
@EXAMPLES
@given(data=st.binary(max_size=300))
def test_random_bytes_load_or_are_refused_by_name(tmp_path, kind, data):
    path = tmp_path / f"random.{kind}"
    path.write_bytes(data)
    loads_or_refuses(READERS[kind], path)


@pytest.mark.unit
@pytest.mark.parametrize("kind", READERS)
@EXAMPLES
@given(choice=st.data())
def test_mutated_files_load_or_are_refused_by_name(tmp_path, valid_files, kind, choice):
    original = valid_files[kind]
    data = choice.draw(mutations(original))
    path = tmp_path / f"mutated.{kind}"
    path.write_bytes(data)
    loaded = loads_or_refuses(READERS[kind], path)
    if kind in ("weights", "oracle") and data != original:
        assert loaded is None, "a changed .sgw file loaded: the checksum should catch any change"


@pytest.mark.unit
@pytest.mark.parametrize("kind", READERS)
def test_unmutated_files_load_as_written(tmp_path, valid_files, kind):
    path = tmp_path / f"valid.{kind}"
    path.write_bytes(valid_files[kind])
    loaded = READERS[kind](path)
    if kind == "weights":
        expected = new_oracle(V, E, H, T, 0, seed=3).state_dict()
        assert all(torch.equal(tensor, expected[name]) for name, tensor in unpack_state(loaded).items())
    elif kind == "oracle":
        expected = new_oracle(V, E, H, T, 0, seed=3)
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), expected.state_dict().values()))
    elif kind == "tokens":
        assert loaded.tolist() == [[int(w) for w in line.split()] for line in TOKENS.decode().splitlines()]
    elif kind == "vocabulary":
        assert loaded == [f"w{i}" for i in range(V)]
    elif kind == "config":
        assert loaded == load_config("deploy/configs/smoke.yaml")
    else:
        assert [a.tolist() for a in loaded] == [a.tolist() for a in pickle.loads(valid_files[kind])]


# -- header fields, changed through msgpack ---------------------------------------------------
SIZES = st.sampled_from([0, -1, 1, 2**31, 2**40, 2**63 - 1, 2**64 - 1, -2**63, 10**7, True, False])
MSGPACK_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | SIZES | st.floats() | st.text(max_size=6)
    | st.binary(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)
FIELDS = ([(key,) for key in ("model", "version", "meta", "tensors", "nbytes", "checksum")]
          + [("meta", key) for key in ("vocab_size", "embed_dim", "hidden_dim", "seq_len", "start_token")]
          + [("tensors", index, key) for index in (0, 2, 6) for key in ("name", "dtype", "shape", "offset", "nbytes")]
          + [("tensors", 0, "shape", 0), ("tensors", 3, "shape", 0)])


def sealed(header: dict, buffer) -> bytes:
    """The header with the checksum the format defines (CRC-32 of the msgpack of the other fields,
    continued over the buffer): an edited header then reaches the checks past the checksum."""
    fields = {key: value for key, value in header.items() if key != "checksum"}
    return msgpack.packb({**fields, "checksum": zlib.crc32(buffer, zlib.crc32(msgpack.packb(fields)))})


def sgw_bytes(header: bytes, buffer, magic: bytes = MAGIC) -> bytes:
    return magic + len(header).to_bytes(8, "little") + header + bytes(buffer)


def split_sgw(data: bytes) -> tuple[dict, np.ndarray]:
    length = int.from_bytes(data[8:16], "little")
    return msgpack.unpackb(data[16:16 + length]), np.frombuffer(data[16 + length:], np.uint8)


def edit(header: dict, field: tuple, value) -> None:
    node = header
    for key in field[:-1]:
        node = node[key]
    if value is _DELETE:
        node.pop(field[-1])
    else:
        node[field[-1]] = value


_DELETE = object()


@pytest.mark.unit
@EXAMPLES
@given(field=st.sampled_from(FIELDS), value=MSGPACK_VALUES | st.just(_DELETE), reseal=st.booleans())
def test_header_fields_changed_through_msgpack_load_or_are_refused_by_name(tmp_path, valid_files, field, value,
                                                                            reseal):
    header, buffer = split_sgw(valid_files["oracle"])
    original = msgpack.packb(header)
    edit(header, field, value)
    changed = msgpack.packb(header)
    assume(changed != original)
    path = tmp_path / "edited.sgw"
    path.write_bytes(sgw_bytes(sealed(header, buffer) if reseal else changed, buffer))
    loaded = loads_or_refuses(load_oracle, path)
    if not reseal:
        assert loaded is None, "a header changed without its checksum loaded"


# -- the cases found by hand --------------------------------------------------------------------
def write_edited(path: Path, oracle: bytes, change, buffer_change=None) -> Path:
    header, buffer = split_sgw(oracle)
    buffer = buffer.copy()
    change(header)
    if buffer_change:
        buffer_change(header, buffer)
    path.write_bytes(sgw_bytes(sealed(header, buffer), buffer))
    return path


@pytest.mark.unit
@pytest.mark.parametrize("vocab_size, words", [
    (2**40, ["oracle sizes", "expected integers"]), (2**64 - 1, ["oracle sizes", "expected integers"]),
    (True, ["oracle sizes", "expected integers"]),
    (10**7, ["embedding.weight", "shape (12, 3), expected (10000000, 3)"]),
])
def test_an_oracle_header_is_checked_against_its_tensors_before_anything_is_built(tmp_path, valid_files,
                                                                                 monkeypatch, vocab_size, words):
    def no_building(*args):
        raise AssertionError(f"a model was built from the header's sizes {args} before they were checked")
    monkeypatch.setattr("seqgan.oracle.Generator", no_building)
    path = write_edited(tmp_path / "big.sgw", valid_files["oracle"], lambda h: h["meta"].update(vocab_size=vocab_size))
    refusal(load_oracle, path, *words)


def tensor(header: dict, name: str) -> dict:
    return next(entry for entry in header["tensors"] if entry["name"] == name)


def set_first_weight(value):
    def change(header, buffer):
        entry = tensor(header, "out.bias")
        buffer[entry["offset"]:entry["offset"] + 4] = np.array([value], np.float32).view(np.uint8)
    return change


@pytest.mark.unit
def test_a_flipped_bit_in_the_weights_is_refused(tmp_path, valid_files):
    data = bytearray(valid_files["oracle"])
    data[-3] ^= 0x10  # inside the last tensor
    (tmp_path / "flip.sgw").write_bytes(bytes(data))
    refusal(load_oracle, tmp_path / "flip.sgw", "checksum")


@pytest.mark.unit
@pytest.mark.parametrize("field, value", [(("meta", "start_token"), 1), (("version",), 5)])
def test_a_header_field_changed_without_its_checksum_is_refused(tmp_path, valid_files, field, value):
    """Still a valid oracle, but not the one written: the checksum covers the header too."""
    header, buffer = split_sgw(valid_files["oracle"])
    edit(header, field, value)
    (tmp_path / "edited.sgw").write_bytes(sgw_bytes(msgpack.packb(header), buffer))
    refusal(load_oracle, tmp_path / "edited.sgw", "checksum")


@pytest.mark.unit
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_weight_is_refused_even_with_a_valid_checksum(tmp_path, valid_files, value):
    path = write_edited(tmp_path / "nan.sgw", valid_files["oracle"], lambda h: None, set_first_weight(value))
    refusal(load_oracle, path, "'out.bias'", "NaN or infinite")


@pytest.mark.unit
def test_an_offset_off_its_alignment_is_refused(tmp_path, valid_files):
    path = write_edited(tmp_path / "align.sgw", valid_files["oracle"],
                        lambda h: tensor(h, "out.bias").update(offset=tensor(h, "out.bias")["offset"] + 4))
    refusal(load_oracle, path, "'out.bias'", "multiple of 64")


@pytest.mark.unit
def test_overlapping_tensors_are_refused(tmp_path, valid_files):
    path = write_edited(tmp_path / "overlap.sgw", valid_files["oracle"],
                        lambda h: tensor(h, "out.bias").update(offset=tensor(h, "lstm.bias_hh_l0")["offset"]))
    refusal(load_oracle, path, "overlap", "'out.bias'", "'lstm.bias_hh_l0'")


@pytest.mark.unit
def test_a_changed_dtype_is_refused(tmp_path, valid_files):
    path = write_edited(tmp_path / "dtype.sgw", valid_files["oracle"], lambda h: tensor(h, "out.bias").update(dtype="int32"))
    refusal(load_oracle, path, "out.bias: dtype int32, expected float32")
    with pytest.raises(ValueError, match="embedding.weight: dtype float64, expected float32"):
        load_into(Generator(V, E, H, T), pack_state(Generator(V, E, H, T).double().state_dict(), "generator", 0))


@pytest.mark.unit
def test_a_refused_load_leaves_the_module_as_it_was(valid_files):
    model = Generator(V, E, H, T)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    state = new_oracle(V, E, H, T, 0, seed=3).state_dict()
    state["out.bias"] = state["out.bias"].double()  # the last tensor: every other one would fit
    with pytest.raises(ValueError, match="dtype"):
        load_into(model, pack_state(state, "generator", 0))
    assert all(torch.equal(t, before[name]) for name, t in model.state_dict().items())


def entry(**fields) -> dict:
    return {"name": "a", "dtype": "float32", "shape": [2], "offset": 0, "nbytes": 8, **fields}


def sgw(**fields) -> bytes:
    """A file of 8 buffer bytes whose header has `fields` over a one-tensor layout (checksum 0)."""
    header = {"model": "m", "version": 0, "meta": {}, "tensors": [entry()], "nbytes": 8, "checksum": 0, **fields}
    return sgw_bytes(msgpack.packb(header), b"\0" * 8)


DAMAGED = {
    "short magic": (MAGIC[:5], ["not a seqgan weights file"]),
    "no header length": (MAGIC + b"\x01\x02", ["truncated"]),
    "header length past the end": (MAGIC + (10**6).to_bytes(8, "little") + b"\x80",
                                   ["header length 1000000", "only 1 bytes follow"]),
    "header length 2^64-1": (MAGIC + (2**64 - 1).to_bytes(8, "little"), ["header length"]),
    "not msgpack": (sgw_bytes(b"\xc1\xc1\xc1", b""), ["corrupt header", "not msgpack"]),
    "a list": (sgw_bytes(msgpack.packb([1, 2, 3]), b""), ["corrupt header", "expected a map"]),
    "a string": (sgw_bytes(msgpack.packb("header"), b""), ["corrupt header", "expected a map"]),
    "negative size": (sgw(tensors=[entry(shape=[-2])]), ["shape [-2]"]),
    "bool size": (sgw(tensors=[entry(shape=[True, 2])]), ["shape [True, 2]"]),
    "shape past int64": (sgw(tensors=[entry(shape=[2**40, 2**40, 2**40], nbytes=2**64 - 1)]), ["2^62"]),
    "empty shape past int64": (sgw(tensors=[entry(shape=[0, 2**62], nbytes=0)]), ["2^62"]),
    "negative offset": (sgw(tensors=[entry(offset=-64)]), ["offset -64"]),
    "bool nbytes": (sgw(tensors=[entry(nbytes=True)]), ["True bytes"]),
    "wrong checksum": (sgw(), ["checksum"]),
    "bytes missing": (sgw(nbytes=16), ["says 16 bytes", "holds 8", "truncated"]),
    "tensor past the buffer": (sgw(tensors=[entry(shape=[4], nbytes=16)]), ["past the buffer"]),
    "a name twice": (sgw(tensors=[entry(), entry()]), ["'a' appears twice"]),
    "dtype a list": (sgw(tensors=[entry(dtype=["float32"])]), ["unsupported dtype"]),
    "version a bool": (sgw(version=True), ["version True"]),
    "checksum past 32 bits": (sgw(checksum=2**40), ["checksum 1099511627776"]),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_sgw_files_are_named(tmp_path, case):
    data, words = DAMAGED[case]
    (tmp_path / "d.sgw").write_bytes(data)
    refusal(read_packed, tmp_path / "d.sgw", *words)


@pytest.mark.unit
def test_a_truncated_sgw_file_says_so(tmp_path, valid_files):
    (tmp_path / "cut.sgw").write_bytes(valid_files["oracle"][:-10])
    refusal(load_oracle, tmp_path / "cut.sgw", "truncated")


@pytest.mark.unit
def test_seqganw1_files_without_a_checksum_are_still_read(tmp_path, valid_files):
    header, buffer = split_sgw(valid_files["oracle"])
    for key in ("nbytes", "checksum"):
        header.pop(key)
    (tmp_path / "old.sgw").write_bytes(sgw_bytes(msgpack.packb(header), buffer, MAGIC_V1))
    old = load_oracle(tmp_path / "old.sgw")
    expected = new_oracle(V, E, H, T, 0, seed=3).state_dict()
    assert all(torch.equal(t, expected[name]) for name, t in old.state_dict().items())
    # Written again, it gains a checksum.
    write_packed(tmp_path / "new.sgw", read_packed(tmp_path / "old.sgw"))
    assert (tmp_path / "new.sgw").read_bytes() == valid_files["oracle"]
    # Every check but the checksum still applies.
    tensor(header, "out.bias")["offset"] += 8
    (tmp_path / "old.sgw").write_bytes(sgw_bytes(msgpack.packb(header), buffer, MAGIC_V1))
    refusal(load_oracle, tmp_path / "old.sgw", "multiple of 64")


@pytest.mark.unit
def test_packed_weights_in_memory_are_checked_cheaply_and_errors_do_not_name_a_file():
    packed = pack_state(Generator(V, E, H, T).state_dict(), "generator", 1)
    header = packed.meta
    tensor(header, "out.bias")["offset"] = 1
    with pytest.raises(ValueError, match="multiple of 64") as error:
        unpack_state(PackedWeights(msgpack.packb(header), packed.buffer))
    assert not isinstance(error.value, BadFileError)


# -- paths that are not regular files -------------------------------------------------------------
@contextmanager
def no_hang(seconds: int = 10):
    """Fail, rather than hang, if a reader blocks (opening a FIFO for reading waits for a writer)."""
    def stuck(*_):
        raise AssertionError(f"the reader blocked for {seconds} s")
    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.unit
@pytest.mark.parametrize("kind", READERS)
def test_a_folder_or_a_fifo_is_named_for_what_it_is(tmp_path, kind):
    folder = tmp_path / "folder"
    folder.mkdir()
    message = refusal(READERS[kind], folder, "is a folder")
    assert "does not exist" not in message
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with no_hang():
        refusal(READERS[kind], fifo, "is not a regular file")
    refusal(READERS[kind], tmp_path / "missing", "does not exist")


@pytest.mark.unit
def test_a_config_file_that_cannot_be_read_is_a_config_file_error(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    with no_hang(), pytest.raises(ConfigFileError, match="is not a regular file"):
        load_config(tmp_path / "fifo.yaml")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000)
    with pytest.raises(ConfigFileError, match="deep.yaml"):
        load_config(tmp_path / "deep.yaml")
    (tmp_path / "digits.yaml").write_text("model: {vocab_size: " + "9" * 5000 + "}\n")
    with pytest.raises(ConfigFileError, match="digits.yaml.*not valid YAML"):
        load_config(tmp_path / "digits.yaml")
    (tmp_path / "keys.yaml").write_text("1: 2\nnumbers: 3\nmodel: {}\n")  # keys of two types to sort
    with pytest.raises(ConfigFileError, match="keys.yaml.*unknown key 1"):
        load_config(tmp_path / "keys.yaml")


# -- token files ----------------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize("line, words", [
    ("+1 2 3 4 5", ["expected integer token ids"]),
    ("1_0 2 3 4 5", ["expected integer token ids"]),
    ("\u0661 2 3 4 5", ["expected integer token ids"]),  # an Arabic-Indic digit: int() takes it
    ("9" * 5000 + " 2 3 4 5", ["token id 999", "outside [0, 12)"]),
    ("-1 2 3 4 5", ["token id -1 outside"]),
    (" ".join(["1"] * 100_000), ["100000 tokens, expected model.seq_len = 5"]),
])
def test_bad_token_lines_are_named(tmp_path, line, words):
    (tmp_path / "t.txt").write_text("0 0 0 0 0\n" + line + "\n")
    assert ":2:" in refusal(READERS["tokens"], tmp_path / "t.txt", *words)


@pytest.mark.unit
def test_lines_are_counted_at_newlines_only(tmp_path):
    (tmp_path / "t.txt").write_bytes(b"\xef\xbb\xbf0 0 0 0 0\r\n1 1\x0c1 1 1\n1 2 3 x 5\n")  # BOM, CRLF, a form feed
    refusal(READERS["tokens"], tmp_path / "t.txt", "t.txt:3:", "expected integer token ids")
    (tmp_path / "v.txt").write_text("".join(f"w{i}\u2028\n" if i == 3 else f"w{i}\r\n" for i in range(V)))
    words = read_vocabulary(tmp_path / "v.txt", V)
    assert len(words) == V and words[4] == "w4"


# -- the oracle pickle -------------------------------------------------------------------------
@contextmanager
def allocates_at_most(megabytes: int):
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < megabytes * 2**20, f"{peak / 2**20:.0f} MiB allocated while reading a small file"


@pytest.mark.unit
@pytest.mark.parametrize("data, words", [
    # LONG_BINPUT with memo index 2^24: the C unpickler grows its memo array to 2^25 entries.
    (b"Nr\x00\x00\x00\x01.", ["expected a list of 15 numpy arrays"]),
    # BYTEARRAY8 claiming 2^40 bytes: allocated before reading.
    (b"\x80\x05\x96" + (2**40).to_bytes(8, "little") + b"abc.", ["BYTEARRAY8"]),
    # numpy.ndarray called with a 2^26-element shape.
    (b"cnumpy\nndarray\n((I67108864\ntS'f4'\ntR.", ["not a readable pickle"]),
    # _reconstruct with the same shape instead of numpy's empty placeholder.
    (b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I67108864\ntS'b'\ntR.", ["only the empty (0,)"]),
])
def test_pickles_that_ask_for_memory_are_refused_without_it(tmp_path, data, words):
    (tmp_path / "bomb.pkl").write_bytes(data)
    with allocates_at_most(32):
        refusal(load_seqgan_arrays, tmp_path / "bomb.pkl", *words)


@pytest.mark.unit
@pytest.mark.parametrize("data, words", [
    # An object array (numpy crashes filling one from a short list); here from a full one.
    (b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntS'b'\ntR(I1\n(I1\ntcnumpy\ndtype\n"
     b"(S'O8'\nI0\nI1\ntR(I3\nS'|'\nNNNI-1\nI-1\nI63\ntbI00\n(lp0\nI1\natb.", ["only numeric arrays"]),
    (b"c_codecs\nencode\n(Vabc\nVbase64\ntR.", ["only latin-1"]),
    (pickle.dumps([1.0] * 15, protocol=0)[:-9], ["not a readable pickle"]),
])
def test_pickles_outside_numeric_arrays_are_refused(tmp_path, data, words):
    (tmp_path / "odd.pkl").write_bytes(data)
    refusal(load_seqgan_arrays, tmp_path / "odd.pkl", *words)


# -- counts from the command line ---------------------------------------------------------------
@pytest.mark.unit
def test_sample_n_is_bounded(capsys):
    from learner.cli import main
    with pytest.raises(SystemExit):
        main(["sample", "--run", "RUN", "-n", str(10**12), "--out", "unused.txt"])
    assert "expected at most 100000000 sequences, got 1000000000000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", "--run", "RUN", "-n", "0", "--out", "unused.txt"])
    assert "expected a positive integer, got 0" in capsys.readouterr().err


@pytest.mark.unit
def test_samples_written_in_chunks_are_the_samples_drawn_at_once(monkeypatch):
    from learner.commands import generate
    from seqgan.data.tokens import format_tokens
    from seqgan.seeding import derive_seed, uniforms
    monkeypatch.setattr(generate, "SAMPLE_CHUNK", 16)
    model = Generator(V, E, H, T).init_normal_(1.0).eval()
    chunks = list(generate._sample_text(model, 40, 7, None))
    assert len(chunks) == 3
    at_once = format_tokens(model.sample(uniforms(derive_seed(7, "sample_cli"), (40, T))))
    assert b"".join(chunks).decode() == at_once
