"""Cross-field checks of a config, run by load_config: each message names the key, the value and
what was expected."""
from __future__ import annotations

import dataclasses
import math

from seqgan.config import (AUTO, MAX_PARAMETERS, MAX_SEQ_LEN, MAX_SEQUENCES, MAX_TOKENS, MAX_VOCAB_SIZE, METHODS,
                           Config, ConfigError, explicit_sizes)
from seqgan.footprint import discriminator_parameters, generator_parameters


# Upper bounds of rates and scales, far past any useful setting: beyond them a run does not fail,
# it trains to finite nonsense (generator.lr = 1e30 gave NLL-oracle 8e31).
SANE_MAXIMA = {"generator.lr": 1.0, "discriminator.lr": 1.0, "generator.init_std": 1.0,
               "discriminator.l2_reg": 100.0}


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(c: Config) -> None:
    """Cross-field checks, with messages that name the key, the value and the expectation."""
    _require_finite(c)
    positive = {
        "model.vocab_size": c.model.vocab_size, "model.seq_len": c.model.seq_len,
        "generator.embed_dim": c.generator.embed_dim, "generator.hidden_dim": c.generator.hidden_dim,
        "generator.lr": c.generator.lr, "discriminator.embed_dim": c.discriminator.embed_dim,
        "discriminator.lr": c.discriminator.lr, "data.num_train": c.data.num_train,
        "data.num_test": c.data.num_test, "data.batch_size": c.data.batch_size,
        "train.disc_epochs": c.train.disc_epochs, "train.eval_every": c.train.eval_every,
        "train.eval_samples": c.train.eval_samples, "train.checkpoint_every": c.train.checkpoint_every,
        "rollout.num_rollouts": c.rollout.num_rollouts, "rollout.memory_budget": c.rollout.memory_budget,
        **{f"rollout.{k}": v for k, v in explicit_sizes(c.rollout).items()},
        "rollout.sample_unit": c.rollout.sample_unit,
        "rollout.torch_threads": c.rollout.torch_threads, "rollout.max_retries": c.rollout.max_retries,
        "rollout.timeout_s": c.rollout.timeout_s, "generator.init_std": c.generator.init_std,
        "generator.grad_clip": c.generator.grad_clip,
        **({"ray.num_cpus": c.ray.num_cpus} if c.ray.num_cpus is not None else {}),
        **({"learner.torch_threads": c.learner.torch_threads} if c.learner.torch_threads != AUTO else {}),
    }
    for key, value in positive.items():
        _require(value > 0, f"{key} must be > 0, got {value!r}")
    non_negative = {
        "train.mle_epochs": c.train.mle_epochs, "train.disc_pretrain_rounds": c.train.disc_pretrain_rounds,
        "train.adv_iterations": c.train.adv_iterations, "train.g_steps": c.train.g_steps,
        "train.d_steps": c.train.d_steps, "rollout.num_workers": c.rollout.num_workers,
        "rollout.num_cpus": c.rollout.num_cpus, "rollout.num_gpus": c.rollout.num_gpus,
        "learner.num_gpus": c.learner.num_gpus, "learner.num_cpus": c.learner.num_cpus,
        "learner.max_restarts": c.learner.max_restarts,
        "discriminator.l2_reg": c.discriminator.l2_reg, "train.seed": c.train.seed,
        "data.oracle_seed": c.data.oracle_seed,
    }
    for key, value in non_negative.items():
        _require(value >= 0, f"{key} must be >= 0, got {value!r}")
    for key, most in SANE_MAXIMA.items():
        value, lowest = (positive[key], "(0") if key in positive else (non_negative[key], "[0")
        _require(value <= most, f"{key} must be in {lowest}, {most:g}], got {value!r}: past that a run trains to "
                                "meaningless finite numbers")
    _require(c.model.vocab_size >= 2, f"model.vocab_size must be >= 2 (a choice between tokens), "
                                      f"got {c.model.vocab_size!r}")
    _require_sizes_in_bounds(c)
    d = c.discriminator
    _require(len(d.filter_sizes) == len(d.num_filters) and len(d.filter_sizes) > 0,
             f"discriminator.filter_sizes ({len(d.filter_sizes)} entries) and discriminator.num_filters "
             f"({len(d.num_filters)} entries) must be non-empty and of equal length")
    _require(all(s > 0 for s in d.filter_sizes) and all(n > 0 for n in d.num_filters),
             f"discriminator.filter_sizes and num_filters must be positive, got {d.filter_sizes} / {d.num_filters}")
    _require(max(d.filter_sizes) <= c.model.seq_len,
             f"discriminator.filter_sizes has {max(d.filter_sizes)} > model.seq_len {c.model.seq_len}: "
             "a filter must fit in a sequence")
    _require(c.train.method in METHODS,
             f"train.method must be one of {', '.join(METHODS)}, got {c.train.method!r}")
    _require(0.0 <= c.train.ss_final_keep <= 1.0,
             f"train.ss_final_keep must be in [0, 1], got {c.train.ss_final_keep!r}")
    _require(c.train.pg_bleu_order >= 1, f"train.pg_bleu_order must be >= 1, got {c.train.pg_bleu_order!r}")
    _require(0.0 <= d.dropout < 1.0, f"discriminator.dropout must be in [0, 1), got {d.dropout!r}")
    _require(0.0 <= c.rollout.update_rate < 1.0,
             f"rollout.update_rate must be in [0, 1), got {c.rollout.update_rate!r}")
    _require(0 <= c.model.start_token < c.model.vocab_size,
             f"model.start_token must be in [0, {c.model.vocab_size}), got {c.model.start_token!r}")
    _require(c.model.seq_len >= 2, f"model.seq_len must be >= 2, got {c.model.seq_len!r}")
    _require_end_token(c)
    _require(c.learner.device in ("auto", "cpu", "cuda"),
             f"learner.device must be auto, cpu or cuda, got {c.learner.device!r}")
    _require(not c.learner.cuda_graphs or c.learner.device != "cpu",
             "learner.cuda_graphs needs the learner on a CUDA device, but learner.device is 'cpu'")
    _require(not c.learner.cuda_graphs or c.rollout.num_workers == 0 or c.learner.num_gpus > 0,
             f"learner.cuda_graphs needs a GPU for the learner actor (rollout.num_workers is "
             f"{c.rollout.num_workers}): set learner.num_gpus, got {c.learner.num_gpus!r}")
    _require(c.data.num_train >= c.data.batch_size,
             f"data.num_train ({c.data.num_train}) must be >= data.batch_size ({c.data.batch_size})")
    _require(c.data.test_file is None or c.data.train_file is not None,
             f"data.test_file {c.data.test_file!r} needs a data.train_file (token-id files), got null")
    # Without an oracle nothing could draw a test set; with one, fresh oracle samples are it.
    _require(c.data.train_file is None or c.data.test_file is not None or c.data.oracle is not None,
             f"data.train_file {c.data.train_file!r} needs a data.test_file, or a data.oracle to sample "
             "the test set from; got neither")
    _require(c.data.corpus is None or (c.data.oracle is None and c.data.train_file is None),
             f"data.corpus ({c.data.corpus!r}) replaces data.oracle and data.train_file: give one source of real "
             f"data, got data.oracle = {c.data.oracle!r}, data.train_file = {c.data.train_file!r}")
    from seqgan.sizing import DEVICE_KINDS, resolve_units  # sizing reads the checked config above
    for kind in DEVICE_KINDS:  # the work units must fit the budget wherever the workers run
        resolve_units(c, kind)


def _require_end_token(c: Config) -> None:
    end = c.model.end_token
    if end is None:
        return
    _require(0 <= end < c.model.vocab_size,
             f"model.end_token must be null or in [0, {c.model.vocab_size}), got {end!r}")
    _require((c.data.corpus is not None or c.data.train_file is not None) and c.data.oracle is None,
             f"model.end_token ({end}) is for corpora (data.corpus, or data.train_file without data.oracle); "
             "an oracle is fixed-length: give a corpus or leave model.end_token null")


def _require_finite(c: Config) -> None:
    """inf and NaN pass every comparison check below (or fail it with a puzzling message)."""
    for section in dataclasses.fields(c):
        values = getattr(c, section.name)
        for entry in dataclasses.fields(values):
            value = getattr(values, entry.name)
            _require(not isinstance(value, float) or math.isfinite(value),
                     f"{section.name}.{entry.name} must be a finite number, got {value!r}")


def _require_sizes_in_bounds(c: Config) -> None:
    """The MAX_* bounds: sizes past them would fail in the allocator, far from their cause."""
    at_most = {
        "model.vocab_size": (c.model.vocab_size, MAX_VOCAB_SIZE),
        "model.seq_len": (c.model.seq_len, MAX_SEQ_LEN),
        **{key: (value, MAX_SEQUENCES) for key, value in _sequence_counts(c).items()},
        **({"rollout.chunk_tokens": (c.rollout.chunk_tokens, MAX_TOKENS)} if c.rollout.chunk_tokens != AUTO else {}),
        **{f"{key} x model.seq_len": (value * c.model.seq_len, MAX_TOKENS) for key, value in (
            ("data.num_train", c.data.num_train), ("data.num_test", c.data.num_test),
            ("train.eval_samples", c.train.eval_samples))},
        "the generator's weights (about V*E + 4H*(E+H) + H*V)": (generator_parameters(c), MAX_PARAMETERS),
        "the discriminator's weights (about V*E + E*sum(size*filters) + 2F^2)":
            (discriminator_parameters(c), MAX_PARAMETERS),
        # The completions of one PG batch, per prefix position: a count of sequences like any other.
        "data.batch_size x rollout.num_rollouts": (c.data.batch_size * c.rollout.num_rollouts, MAX_SEQUENCES),
    }
    for key, (value, limit) in at_most.items():
        _require(value <= limit, f"{key} must be at most {limit}, got {value}")


def _sequence_counts(c: Config) -> dict[str, int]:
    return {"data.num_train": c.data.num_train, "data.num_test": c.data.num_test,
            "data.batch_size": c.data.batch_size, "train.eval_samples": c.train.eval_samples,
            "rollout.num_rollouts": c.rollout.num_rollouts, "rollout.sample_unit": c.rollout.sample_unit,
            **{f"rollout.{key}": value for key, value in explicit_sizes(c.rollout).items() if key != "chunk_tokens"}}
