"""The runs one frontier compares: each run's generator (its final checkpoint, or the one after its
best evaluation), its method and seed, and the held-out data it is scored on: an oracle and its test
set, or a text test set (a corpus's test split, or a test token file). Runs on the same data share one
copy of it; runs on different data cannot share a frontier."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from learner.run.checkpoint import kept_checkpoints, latest_name, load_generator, run_config
from learner.run.log import read_records
from learner.run.store import RunStore, run_labels
from learner.watch.report import method_of, train_section
from rewards.bleu.text_metrics import TextMetrics
from seqgan.config import Config
from seqgan.data.real_data import held_out_data
from seqgan.models import Generator

CHECKPOINTS = ("final", "best")
ORACLE, TEXT = "oracle", "text"  # the two kinds of frontier


@dataclass
class HeldOut:
    """What a run is scored on. kind: ORACLE (NLL-oracle of samples) or TEXT (BLEU of samples)."""
    kind: str
    test: torch.Tensor  # [M, T] held-out real sequences, for NLL-test
    oracle: Generator | None
    end_token: int | None
    fingerprint: str  # a digest of the oracle's weights and the test set: equal data, equal digest
    _text_metrics: TextMetrics | None = field(default=None, repr=False)

    def text_metrics(self) -> TextMetrics:
        """BLEU against the test set (its reference table counted once, when first asked)."""
        if self._text_metrics is None:
            self._text_metrics = TextMetrics(self.test, self.end_token)
        return self._text_metrics


@dataclass
class FrontierRun:
    location: str
    label: str
    method: str
    seed: int
    checkpoint: str  # the checkpoint folder the generator comes from
    finished: bool  # the run wrote its summary.json
    generator: Generator
    data: HeldOut
    config: Config  # the run's own (the reverse LM trains with its sizes and schedule)


def load_runs(locations: list[str], checkpoint: str = "final") -> list[FrontierRun]:
    """The runs at `locations`, all on the same data (else an error naming two runs that differ)."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"--checkpoint: expected one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
    shared: dict[str, HeldOut] = {}  # one copy per data section
    distinct = list(dict.fromkeys(locations))  # a run given twice (a judge among the runs) keeps its name
    labels = dict(zip(distinct, run_labels(distinct)))
    runs = [load_run(location, labels[location], checkpoint, shared) for location in locations]
    first = runs[0]
    for run in runs[1:]:
        if run.data.kind != first.data.kind:
            raise ValueError(f"runs {first.location!r} ({first.data.kind}) and {run.location!r} ({run.data.kind}) "
                             "are of different kinds: a frontier compares runs on one oracle or one text test set")
        if run.data.fingerprint != first.data.fingerprint:
            what = "oracles or oracle test sets" if first.data.kind == ORACLE else "corpora (test sets)"
            raise ValueError(f"runs {first.location!r} and {run.location!r} are on different {what}: "
                             "their curves cannot share one frontier")
    return runs


def load_run(location: str, label: str, checkpoint: str, shared: dict[str, HeldOut]) -> FrontierRun:
    store = RunStore(location)
    config = run_config(store)  # an error when the folder holds no run
    name = latest_name(store) if checkpoint == "final" else best_checkpoint(store, is_oracle_run(config))
    train = train_section(location)
    key = repr((config.model, config.data, config.generator.embed_dim, config.generator.hidden_dim))
    if key not in shared:
        shared[key] = held_out(config)
    return FrontierRun(location, label, method_of(train), int(train.get("seed", 0)), name,
                       store.is_file("summary.json"), load_generator(location, name), shared[key], config)


def is_oracle_run(config: Config) -> bool:
    """An oracle scores the run's samples: data.oracle, or a new oracle (no corpus, no token files)."""
    d = config.data
    return d.corpus is None and (d.oracle is not None or d.train_file is None)


def held_out(config: Config) -> HeldOut:
    test, oracle = held_out_data(config)
    digest = hashlib.sha256(f"{tuple(test.shape)}".encode())
    digest.update(test.contiguous().numpy().tobytes())
    for tensor in (oracle.state_dict().values() if oracle is not None else ()):
        digest.update(tensor.contiguous().numpy().tobytes())
    kind = ORACLE if oracle is not None else TEXT
    return HeldOut(kind, test, oracle, config.model.end_token, digest.hexdigest())


def best_checkpoint(run: RunStore, oracle_run: bool) -> str:
    """The kept checkpoint taken right after the run's best evaluation (lowest NLL-oracle; text runs:
    highest BLEU-5); an error when the run no longer keeps it (it keeps its last few)."""
    key, pick = ("nll_oracle", min) if oracle_run else ("bleu_5", max)
    records = read_records(run)
    evaluated = [(record[key], index) for index, record in enumerate(records) if record.get(key) is not None]
    if not evaluated:
        raise ValueError(f"run {str(run)!r} has no {key} record: it has no best checkpoint")
    value, index = pick(evaluated, key=lambda pair: pair[0])
    where = records[index]
    kept = kept_checkpoints(run)
    for name, progress in kept.items():
        pending = progress.get("pending") or {}
        if (pending.get("phase"), pending.get("step")) == (where["phase"], where["step"]):
            return name
    raise ValueError(f"run {str(run)!r}: its best {key} ({value:.4f}, {where['phase']} step {where['step']}) has no "
                     f"kept checkpoint (kept: {', '.join(sorted(kept)) or 'none'}); use --checkpoint final")
