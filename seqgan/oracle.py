"""The synthetic "real data": a generator with frozen N(0, 1) weights, saved as a `.sgw` file."""
from __future__ import annotations

from pathlib import Path

import torch

from seqgan.config import MAX_SEQ_LEN, MAX_VOCAB_SIZE
from seqgan.errors import BadFileError
from seqgan.models import Generator
from seqgan.packing import load_into, pack_state, read_packed, write_packed
from seqgan.seeding import derive_seed
from seqgan.seqgan_pickle import load_seqgan_arrays, seqgan_arrays_to_state_dict

ORACLE_MODEL = "oracle"
ORACLE_SIZES = ("vocab_size", "embed_dim", "hidden_dim", "seq_len", "start_token")  # Generator's arguments


def new_oracle(vocab_size: int, embed_dim: int, hidden_dim: int, seq_len: int, start_token: int,
               seed: int) -> Generator:
    torch_state = torch.Generator().manual_seed(derive_seed(seed, "oracle"))
    oracle = Generator(vocab_size, embed_dim, hidden_dim, seq_len, start_token)
    with torch.no_grad():
        for p in oracle.parameters():
            p.copy_(torch.randn(p.shape, generator=torch_state))
    return freeze(oracle)


def freeze(model: Generator) -> Generator:
    model.requires_grad_(False)
    return model.eval()


def _shape_meta(oracle: Generator) -> dict:
    return {"vocab_size": oracle.vocab_size, "embed_dim": oracle.embedding.embedding_dim,
            "hidden_dim": oracle.lstm.hidden_size, "seq_len": oracle.seq_len, "start_token": oracle.start_token}


def save_oracle(oracle: Generator, path: str | Path) -> None:
    write_packed(path, pack_state(oracle.state_dict(), ORACLE_MODEL, 0, _shape_meta(oracle)))


def load_oracle(path: str | Path) -> Generator:
    """An oracle `.sgw` file. The header's sizes are checked against its tensors (which the file's
    length bounds) before the model is built, so a damaged header never sizes an allocation."""
    packed = read_packed(path)
    header = packed.meta
    where = f"oracle {str(path)!r}"
    if header["model"] != ORACLE_MODEL:
        raise BadFileError(f"{where} holds a {header['model'][:40]!r} model, expected an oracle")
    sizes = _oracle_sizes(header["meta"], where)
    _require_shapes(header["tensors"], _generator_shapes(*sizes[:3]), where)
    oracle = Generator(*sizes)
    load_into(oracle, packed)  # names, shapes and dtypes against the built module; errors name the file
    return freeze(oracle)


def _oracle_sizes(meta: dict, where: str) -> tuple[int, ...]:
    """The Generator's arguments from the header's meta, each an integer in its range."""
    values = [meta.get(key) for key in ORACLE_SIZES]
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    vocab, embed, hidden, seq_len, start = values if integers else (0,) * len(ORACLE_SIZES)
    if not (integers and 2 <= vocab <= MAX_VOCAB_SIZE and 2 <= seq_len <= MAX_SEQ_LEN and embed >= 1
            and hidden >= 1 and 0 <= start < vocab):
        shown = repr({key: meta.get(key) for key in ORACLE_SIZES})[:200]
        raise BadFileError(f"{where}: oracle sizes {shown}, expected integers vocab_size in [2, {MAX_VOCAB_SIZE}], "
                           f"seq_len in [2, {MAX_SEQ_LEN}], embed_dim and hidden_dim >= 1 and a start_token "
                           "in [0, vocab_size)")
    return tuple(values)


def _generator_shapes(vocab: int, embed: int, hidden: int) -> dict[str, list[int]]:
    """The Generator's parameter shapes (load_into checks them against the module again)."""
    gates = 4 * hidden  # nn.LSTM stacks the input, forget, cell and output gates
    return {"embedding.weight": [vocab, embed], "lstm.weight_ih_l0": [gates, embed],
            "lstm.weight_hh_l0": [gates, hidden], "lstm.bias_ih_l0": [gates], "lstm.bias_hh_l0": [gates],
            "out.weight": [vocab, hidden], "out.bias": [vocab]}


def _require_shapes(entries: list[dict], expected: dict[str, list[int]], where: str) -> None:
    found = {entry["name"]: entry["shape"] for entry in entries}
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        raise BadFileError(f"{where}: tensors do not fit an oracle: missing {missing}, unexpected {extra[:10]}")
    for name, shape in expected.items():
        if found[name] != shape:
            raise BadFileError(f"{where}: {name}: shape {tuple(found[name])}, expected {tuple(shape)} "
                               "(from the header's oracle sizes)")


def import_seqgan_oracle(pickle_path: str | Path, seq_len: int = 20, start_token: int = 0) -> Generator:
    """The oracle released with the paper's code (a pickle of 15 numpy arrays), read safely."""
    try:
        state = seqgan_arrays_to_state_dict(load_seqgan_arrays(pickle_path))
    except BadFileError:
        raise
    except ValueError as error:  # arrays of the wrong shapes: name the file they came from
        raise BadFileError(f"SeqGAN oracle pickle {str(pickle_path)!r}: {error}") from None
    vocab_size, embed_dim = state["embedding.weight"].shape
    hidden_dim = state["lstm.weight_hh_l0"].shape[1]
    if not 0 <= start_token < vocab_size:
        raise ValueError(f"start token {start_token} is not a token of {str(pickle_path)!r}: "
                         f"expected one in [0, {vocab_size})")
    if not 2 <= seq_len <= MAX_SEQ_LEN:
        raise ValueError(f"sequence length {seq_len}: expected one in [2, {MAX_SEQ_LEN}]")
    oracle = Generator(vocab_size, embed_dim, hidden_dim, seq_len, start_token)
    oracle.load_state_dict(state)
    return freeze(oracle)


def check_oracle_fits(oracle: Generator, vocab_size: int, seq_len: int, start_token: int, where: str) -> None:
    got = (oracle.vocab_size, oracle.seq_len, oracle.start_token)
    want = (vocab_size, seq_len, start_token)
    if got != want:
        raise ValueError(f"oracle {where} has (vocab_size, seq_len, start_token) = {got}, "
                         f"but the config says model = {want}")
