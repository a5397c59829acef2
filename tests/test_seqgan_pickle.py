"""Reading the paper's released oracle: pickle protocols, refusal of anything but numpy, layout."""
import collections
import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from seqgan.errors import BadFileError
from seqgan.models import Generator
from seqgan.seqgan_pickle import UnsafePickleError, load_seqgan_arrays, seqgan_arrays_to_state_dict

V, E, H = 11, 5, 7
STEPS = 6


def paper_arrays(seed=0):
    """Random parameters in the layout of the paper's TARGET_LSTM pickle."""
    rng = np.random.default_rng(seed)
    shapes = [(V, E)] + [(E, H), (H, H), (H,)] * 4 + [(H, V), (V,)]  # gates: input, forget, output, candidate
    return [rng.normal(size=shape).astype(np.float32) for shape in shapes]


def write(tmp_path, obj, protocol, name="oracle.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def python2_pickle(arrays):
    """Protocol 0 as Python 2 + numpy 1.x wrote it: buffers as latin-1 `str` literals, no _codecs."""
    def array(a):
        shape = b"".join(b"I%d\n" % n for n in a.shape)
        return (b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntS'b'\ntR"
                b"(I1\n(" + shape + b"tcnumpy\ndtype\n(S'f4'\nI0\nI1\ntR(I3\nS'<'\nNNNI-1\nI-1\nI0\ntb"
                b"I00\nS" + repr(a.tobytes())[1:].encode() + b"\ntb")
    return b"(l" + b"".join(array(a) + b"a" for a in arrays) + b"."


def assert_same(expected, loaded):
    assert len(loaded) == len(expected)
    for a, b in zip(expected, loaded):
        assert b.dtype == np.float32 and np.array_equal(a, b)


@pytest.mark.unit
@pytest.mark.parametrize("protocol", [0, 2, 3])
def test_reads_each_protocol(tmp_path, protocol):
    arrays = paper_arrays()
    assert_same(arrays, load_seqgan_arrays(write(tmp_path, arrays, protocol)))


@pytest.mark.unit
def test_reads_a_python2_protocol0_file(tmp_path):
    arrays = paper_arrays(1)
    path = tmp_path / "target_params.pkl"
    path.write_bytes(python2_pickle(arrays))
    assert_same(arrays, load_seqgan_arrays(path))


class _Exploit:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.unit
@pytest.mark.parametrize("protocol", [0, 3])
def test_refuses_code_and_runs_none(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = write(tmp_path, [_Exploit(marker)] + paper_arrays()[1:], protocol)
    with pytest.raises(UnsafePickleError, match=r"(posix|nt|os)\.system: only numpy arrays are allowed"):
        load_seqgan_arrays(path)
    assert not marker.exists()


@pytest.mark.unit
def test_refuses_non_numpy_classes(tmp_path):
    path = write(tmp_path, [collections.OrderedDict(a=1)] + paper_arrays()[1:], 3)
    with pytest.raises(ValueError, match=r"collections\.OrderedDict: only numpy arrays"):
        load_seqgan_arrays(path)


@pytest.mark.unit
@pytest.mark.parametrize("module, name", [("numpy", "load"), ("numpy.testing", "assert_equal"),
                                          ("numpy_evil", "x"), ("numpy.core.multiarray", "scalar_evil")])
def test_only_the_exact_array_globals_are_allowed(tmp_path, module, name):
    """Not a prefix match: numpy callables that read files, and look-alike modules, are refused."""
    (tmp_path / "p.pkl").write_bytes(f"c{module}\n{name}\n(S'x'\ntR.".encode())
    with pytest.raises(UnsafePickleError, match=f"refusing to load {module}.{name}"):
        load_seqgan_arrays(tmp_path / "p.pkl")


@pytest.mark.unit
def test_wrong_contents_are_named(tmp_path):
    with pytest.raises(ValueError, match="found a list of 14"):
        load_seqgan_arrays(write(tmp_path, paper_arrays()[:14], 3))
    with pytest.raises(ValueError, match="found a dict"):
        load_seqgan_arrays(write(tmp_path, {"emb": paper_arrays()[0]}, 3))
    with pytest.raises(ValueError, match="item 14 should be a float numpy array, found a str"):
        load_seqgan_arrays(write(tmp_path, paper_arrays()[:14] + ["bias"], 3))
    for bad in (np.nan, np.inf):
        arrays = paper_arrays()
        arrays[3][0] = bad
        with pytest.raises(ValueError, match="item 3 holds NaN or infinite values"):
            load_seqgan_arrays(write(tmp_path, arrays, 3))
    with pytest.raises(BadFileError, match="missing.pkl.* does not exist"):
        load_seqgan_arrays(tmp_path / "missing.pkl")
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps(paper_arrays(), protocol=3)[:100])
    with pytest.raises(ValueError, match="cut.pkl.*not a readable pickle"):
        load_seqgan_arrays(tmp_path / "cut.pkl")


@pytest.mark.unit
@pytest.mark.parametrize("index, shape, expected", [
    (5, (H, H + 1), r"array 5 \(U forget\): shape \(7, 8\), expected \(7, 7\)"),
    (13, (V, H), r"array 13 \(output weights\): shape \(11, 7\), expected \(7, 11\)"),
    (12, (V,), r"array 12 \(b candidate\): shape \(11,\), expected \(7,\)"),
    (0, (V,), r"array 0 \(embeddings \(V, E\)\): shape \(11,\), expected 2 dimensions"),
])
def test_wrong_shapes_are_named(index, shape, expected):
    arrays = paper_arrays()
    arrays[index] = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=expected):
        seqgan_arrays_to_state_dict(arrays)


@pytest.mark.unit
def test_state_dict_fits_the_generator():
    state = seqgan_arrays_to_state_dict(paper_arrays())
    assert all(t.dtype == torch.float32 and t.is_contiguous() for t in state.values())
    Generator(V, E, H, STEPS).load_state_dict(state)  # strict: same names and shapes


def numpy_logits(arrays, inputs):
    """The paper's TARGET_LSTM equations, step by step from a zero state."""
    emb, w_out, b_out = (a.astype(np.float64) for a in (arrays[0], arrays[13], arrays[14]))
    (wi, ui, bi), (wf, uf, bf), (wo, uo, bo), (wc, uc, bc) = (
        [a.astype(np.float64) for a in arrays[k:k + 3]] for k in (1, 4, 7, 10))
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h = c = np.zeros((inputs.shape[0], H))
    logits = []
    for t in range(inputs.shape[1]):
        x = emb[inputs[:, t]]
        i, f, o = sigmoid(x @ wi + h @ ui + bi), sigmoid(x @ wf + h @ uf + bf), sigmoid(x @ wo + h @ uo + bo)
        c = f * c + i * np.tanh(x @ wc + h @ uc + bc)
        h = o * np.tanh(c)
        logits.append(h @ w_out + b_out)
    return np.stack(logits, axis=1)


class _TorchOracle(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding, self.lstm, self.out = nn.Embedding(V, E), nn.LSTM(E, H, batch_first=True), nn.Linear(H, V)

    def forward(self, inputs):
        hidden, _ = self.lstm(self.embedding(inputs))  # zero initial state
        return self.out(hidden)


@pytest.mark.unit
def test_converted_lstm_follows_the_papers_equations(tmp_path):
    arrays = paper_arrays(2)
    model = _TorchOracle()
    model.load_state_dict(seqgan_arrays_to_state_dict(load_seqgan_arrays(write(tmp_path, arrays, 0))))
    tokens = np.random.default_rng(3).integers(0, V, size=(4, STEPS))
    inputs = np.concatenate([np.zeros((4, 1), np.int64), tokens[:, :-1]], axis=1)  # start token 0 first
    with torch.no_grad():
        ours = model(torch.from_numpy(inputs)).numpy()
    assert np.allclose(ours, numpy_logits(arrays, inputs), atol=1e-5)
