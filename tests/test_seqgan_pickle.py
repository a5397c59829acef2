"""Importing the paper's released oracle: both pickle protocols, refusal of anything but numpy."""
import os
import pickle

import numpy as np
import pytest
import torch

from seqgan.oracle import import_seqgan_oracle
from seqgan.seqgan_pickle import UnsafePickleError, load_seqgan_arrays, seqgan_arrays_to_state_dict

V, E, H = 11, 5, 7


def paper_arrays(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(V, E))]
    for _ in range(4):  # input, forget, output, candidate gates
        arrays += [rng.normal(size=(E, H)), rng.normal(size=(H, H)), rng.normal(size=(H,))]
    arrays += [rng.normal(size=(H, V)), rng.normal(size=(V,))]
    return [a.astype(np.float32) for a in arrays]


def numpy_logits(arrays, tokens):
    """The paper's TARGET_LSTM equations, step by step from a zero state and start token 0."""
    emb, (wi, ui, bi), (wf, uf, bf), (wo, uo, bo), (wc, uc, bc) = arrays[0], arrays[1:4], arrays[4:7], arrays[7:10], arrays[10:13]
    w_out, b_out = arrays[13], arrays[14]
    sig = lambda z: 1 / (1 + np.exp(-z))
    h = c = np.zeros((tokens.shape[0], H))
    x_tokens = np.concatenate([np.zeros((tokens.shape[0], 1), int), tokens[:, :-1]], axis=1)
    out = []
    for t in range(tokens.shape[1]):
        x = emb[x_tokens[:, t]]
        i, f, o = sig(x @ wi + h @ ui + bi), sig(x @ wf + h @ uf + bf), sig(x @ wo + h @ uo + bo)
        c = f * c + i * np.tanh(x @ wc + h @ uc + bc)
        h = o * np.tanh(c)
        out.append(h @ w_out + b_out)
    return np.stack(out, axis=1)


@pytest.mark.unit
@pytest.mark.parametrize("protocol", [0, 2, 3])
def test_reads_each_protocol(tmp_path, protocol):
    arrays = paper_arrays()
    path = tmp_path / f"p{protocol}.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    loaded = load_seqgan_arrays(path)
    assert len(loaded) == 15 and all(np.array_equal(a, b) for a, b in zip(arrays, loaded))


@pytest.mark.unit
def test_reads_a_python2_style_protocol0_file(tmp_path):
    """Python 2 wrote str byte buffers that Python 3 must decode as latin-1."""
    arrays = paper_arrays(1)
    text = pickle.dumps(arrays, protocol=0)
    path = tmp_path / "py2.pkl"
    path.write_bytes(text)
    assert b"_codecs" in text or b"\nc" in text
    assert all(np.array_equal(a, b) for a, b in zip(arrays, load_seqgan_arrays(path)))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.unit
@pytest.mark.parametrize("protocol", [0, 3])
def test_refuses_anything_but_numpy(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(paper_arrays()[:14] + [_Exploit(marker)], protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system") as error:
        load_seqgan_arrays(path)
    assert "only numpy arrays" in str(error.value)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"a": torch.zeros(2)}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match="torch"):
        load_seqgan_arrays(path)


@pytest.mark.unit
def test_wrong_count_or_shape_names_the_problem(tmp_path):
    path = tmp_path / "short.pkl"
    path.write_bytes(pickle.dumps(paper_arrays()[:14], protocol=3))
    with pytest.raises(ValueError, match="expected a list of 15 numpy arrays, found a list of 14"):
        load_seqgan_arrays(path)
    arrays = paper_arrays()
    arrays[5] = np.zeros((H, H + 1), np.float32)
    with pytest.raises(ValueError, match=r"array 5 \(U forget\): shape \(7, 8\), expected \(7, 7\)"):
        seqgan_arrays_to_state_dict(arrays)
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        load_seqgan_arrays(tmp_path / "missing.pkl")


@pytest.mark.unit
def test_imported_oracle_follows_the_papers_equations(tmp_path):
    arrays = paper_arrays(2)
    path = tmp_path / "target_params.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=0))
    oracle = import_seqgan_oracle(path, seq_len=6)
    tokens = np.random.default_rng(3).integers(0, V, size=(4, 6))
    ours = oracle(torch.from_numpy(tokens)).double().numpy()
    np.testing.assert_allclose(ours, numpy_logits(arrays, tokens), atol=1e-4)
