"""The real sequences a config names: a text corpus, sampled from an oracle, read from token-id files, or the
paper's set-up, the oracle's own samples in a file (data.train_file) with the oracle for NLL-oracle."""
from __future__ import annotations

import torch

from seqgan.config import Config
from seqgan.data.corpus_files import check_corpus_fits, read_corpus
from seqgan.data.tokens import read_tokens
from seqgan.endings import require_padded
from seqgan.errors import BadFileError
from seqgan.models import Generator
from seqgan.oracle import check_oracle_fits, load_oracle, new_oracle
from seqgan.seeding import derive_seed, uniforms


def real_data(config: Config) -> tuple[torch.Tensor, torch.Tensor, Generator | None]:
    """(train [N, T], test [M, T], oracle or None) as the config says. With data.oracle and no
    data.test_file, the test set is data.num_test fresh oracle samples (from data.oracle_seed): the
    training file is used whole, as the paper's code trains on all of it."""
    d = config.data
    if d.corpus is not None:  # the whole of both files; data.num_train/num_test do not apply
        corpus = _checked_corpus(config)
        return corpus.train, corpus.test, None
    oracle = config_oracle(config)
    train = _file_tokens(config, d.train_file) if d.train_file is not None else _oracle_samples(
        config, oracle, "train_data", d.num_train)
    if len(train) < d.batch_size:  # MLE and D use full batches only: a smaller set trains nothing
        raise ValueError(f"data.train_file {d.train_file!r} holds {len(train)} sequences, fewer than "
                         f"data.batch_size = {d.batch_size}")
    return train, _test_tokens(config, oracle), oracle


def held_out_data(config: Config) -> tuple[torch.Tensor, Generator | None]:
    """(test [M, T], oracle or None): real_data's test set and oracle, without making the training set."""
    if config.data.corpus is not None:
        return _checked_corpus(config).test, None
    oracle = config_oracle(config)
    return _test_tokens(config, oracle), oracle


def config_oracle(config: Config) -> Generator | None:
    """data.oracle's file, a new oracle from data.oracle_seed, or None (token files without an oracle)."""
    m, d = config.model, config.data
    if d.oracle is not None:
        oracle = load_oracle(d.oracle)
        check_oracle_fits(oracle, m.vocab_size, m.seq_len, m.start_token, d.oracle)
        return oracle
    if d.train_file is None:
        g = config.generator
        return new_oracle(m.vocab_size, g.embed_dim, g.hidden_dim, m.seq_len, m.start_token, d.oracle_seed)
    return None


def _checked_corpus(config: Config):
    m, d = config.model, config.data
    corpus = read_corpus(d.corpus)
    check_corpus_fits(corpus, m.vocab_size, m.seq_len, d.batch_size, d.corpus)
    return corpus


def _test_tokens(config: Config, oracle: Generator | None) -> torch.Tensor:
    d = config.data
    return _file_tokens(config, d.test_file) if d.test_file is not None else _oracle_samples(
        config, oracle, "test_data", d.num_test)


def _oracle_samples(config: Config, oracle: Generator, purpose: str, count: int) -> torch.Tensor:
    seed = derive_seed(config.data.oracle_seed, purpose)
    return oracle.sample(uniforms(seed, (count, config.model.seq_len)))


def _file_tokens(config: Config, path: str) -> torch.Tensor:
    """A token file checked against the model's sizes, which are the oracle's when there is one: a
    file the oracle cannot score says so."""
    m, oracle = config.model, config.data.oracle
    try:
        tokens = read_tokens(path, m.vocab_size, m.seq_len)
        require_padded(tokens, m.end_token, f"token file {str(path)!r}")  # padded as G's samples are
        return tokens
    except BadFileError as error:
        if oracle is None:
            raise
        raise BadFileError(f"{error}; data.oracle {oracle!r} scores sequences of {m.seq_len} token ids in "
                           f"[0, {m.vocab_size})") from None
