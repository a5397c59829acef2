"""The synthetic "real data": a generator with frozen N(0, 1) weights, saved as a `.sgw` file."""
from __future__ import annotations

from pathlib import Path

import torch

from seqgan.models import Generator
from seqgan.packing import load_into, pack_state, read_packed, write_packed
from seqgan.seeding import derive_seed
from seqgan.seqgan_pickle import load_seqgan_arrays, seqgan_arrays_to_state_dict

ORACLE_MODEL = "oracle"


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
    packed = read_packed(path)
    header = packed.meta
    if header["model"] != ORACLE_MODEL:
        raise ValueError(f"{str(path)!r} holds a {header['model']!r} model, expected an oracle")
    shape = header["meta"]
    sizes = ("vocab_size", "embed_dim", "hidden_dim", "seq_len", "start_token")
    if not (all(isinstance(shape.get(k), int) for k in sizes) and min(shape[k] for k in sizes[:4]) > 0
            and 0 <= shape["start_token"] < shape["vocab_size"]):
        raise ValueError(f"{str(path)!r}: oracle sizes {shape!r}, expected positive integers "
                         f"{', '.join(sizes[:4])} and a start_token in [0, vocab_size)")
    oracle = Generator(*(shape[k] for k in sizes))
    try:
        load_into(oracle, packed)  # names and shapes must match the sizes exactly
    except ValueError as error:
        raise ValueError(f"{str(path)!r}: {error}") from None
    return freeze(oracle)


def import_seqgan_oracle(pickle_path: str | Path, seq_len: int = 20, start_token: int = 0) -> Generator:
    """The oracle released with the paper's code (a pickle of 15 numpy arrays), read safely."""
    state = seqgan_arrays_to_state_dict(load_seqgan_arrays(pickle_path))
    vocab_size, embed_dim = state["embedding.weight"].shape
    hidden_dim = state["lstm.weight_hh_l0"].shape[1]
    if not 0 <= start_token < vocab_size:
        raise ValueError(f"start token {start_token} is not a token of {str(pickle_path)!r}: "
                         f"expected one in [0, {vocab_size})")
    oracle = Generator(vocab_size, embed_dim, hidden_dim, seq_len, start_token)
    oracle.load_state_dict(state)
    return freeze(oracle)


def check_oracle_fits(oracle: Generator, vocab_size: int, seq_len: int, start_token: int, where: str) -> None:
    got = (oracle.vocab_size, oracle.seq_len, oracle.start_token)
    want = (vocab_size, seq_len, start_token)
    if got != want:
        raise ValueError(f"oracle {where} has (vocab_size, seq_len, start_token) = {got}, "
                         f"but the config says model = {want}")
