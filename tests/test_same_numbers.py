"""The same numbers: the smoke preset inline, for every training method, gives the records it gave
before the code was reorganised (tests/golden/, recorded with torch 2.13.0 on a 2-core x86_64 CPU;
timings left out). A rewrite that moves code may not move a number; floats are compared to 1e-6
relative so a CPU that sums in another order passes, while any changed computation fails."""
import json
import math
from pathlib import Path

import pytest
import torch

from actors.inline_pool import InlinePool
from learner.driver import Trainer
from learner.learner import Learner
from learner.threads import usable_cores
from learner.methods import method_for
from seqgan.config import METHODS
from seqgan.config_files import load_config

GOLDEN = Path(__file__).resolve().parent / "golden"


def without_times(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("time_")} for r in records]


def same(got, want) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(same, got, want))
    return got == want


@pytest.mark.unit
@pytest.mark.parametrize("method", METHODS)
def test_smoke_records_are_the_recorded_ones(method, tmp_path):
    config = load_config("deploy/configs/smoke.yaml", ["rollout.num_workers=0", f"train.method={method}"])
    saved = torch.get_num_threads()
    torch.set_num_threads(usable_cores())  # as `seqgan train` does
    try:
        learner = Learner(config)
        Trainer(config, tmp_path / "run", learner, InlinePool(config, method_for(config))).train()
    finally:
        torch.set_num_threads(saved)
    records = without_times([json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()])
    want = json.loads((GOLDEN / f"smoke-{method}.json").read_text())
    assert len(records) == len(want)
    for got, expected in zip(records, want):
        assert same(got, expected), (got, expected)


@pytest.mark.unit
def test_the_comparison_sees_a_changed_number():
    assert same({"a": [1.0, 2]}, {"a": [1.0 + 1e-9, 2]})
    assert not same({"a": [1.0, 2]}, {"a": [1.001, 2]})
    assert not same({"a": 1.0}, {"a": 1.0, "b": 2})
