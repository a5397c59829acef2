"""The paper's set-up: train on a file of the oracle's own samples, score NLL-oracle with that oracle."""
import json
import math
from pathlib import Path

import pytest

from learner.cli import main
from seqgan.config import ConfigError
from seqgan.config_files import load_config
from seqgan.data.tokens import write_tokens
from seqgan.errors import BadFileError
from seqgan.metrics import nll_per_token
from seqgan.oracle import load_oracle, new_oracle, save_oracle
from seqgan.data.real_data import real_data
from seqgan.seeding import derive_seed, uniforms

ROOT = Path(__file__).resolve().parents[1]
PAPER_DATA = ROOT.parent / "shared/data/paper"
SMOKE = "deploy/configs/smoke.yaml"


def oracle_and_file(tmp_path, count=100, vocab=60, seq_len=10):
    """An oracle of the smoke preset's sizes saved to a file, and a token file of its samples."""
    oracle = new_oracle(vocab, 16, 16, seq_len, 0, seed=5)
    save_oracle(oracle, tmp_path / "oracle.sgw")
    write_tokens(tmp_path / "real.txt", oracle.sample(uniforms(9, (count, seq_len))))
    return oracle, [f"data.oracle={tmp_path / 'oracle.sgw'}", f"data.train_file={tmp_path / 'real.txt'}"]


@pytest.mark.unit
def test_config_takes_an_oracle_with_a_train_file_and_no_test_file():
    c = load_config(SMOKE, ["data.oracle=o.sgw", "data.train_file=real.txt"])
    assert (c.data.oracle, c.data.train_file, c.data.test_file) == ("o.sgw", "real.txt", None)
    load_config(SMOKE, ["data.oracle=o.sgw", "data.train_file=real.txt", "data.test_file=test.txt"])


@pytest.mark.unit
@pytest.mark.parametrize("keys, named", [(["data.train_file=real.txt"], "data.train_file 'real.txt' needs"),
                                         (["data.test_file=test.txt"], "data.test_file 'test.txt' needs"),
                                         (["data.oracle=o.sgw", "data.test_file=t.txt"], "data.test_file")])
def test_config_refuses_a_file_set_that_names_no_test_set_or_no_training_set(keys, named):
    with pytest.raises(ConfigError, match=named):
        load_config(SMOKE, keys)


@pytest.mark.unit
def test_real_data_trains_on_the_file_and_tests_on_fresh_oracle_samples(tmp_path):
    oracle, keys = oracle_and_file(tmp_path)
    config = load_config(SMOKE, keys)
    train, test, scorer = real_data(config)
    assert train.tolist() == oracle.sample(uniforms(9, (100, 10))).tolist()  # the file, whole
    fresh = oracle.sample(uniforms(derive_seed(config.data.oracle_seed, "test_data"), (config.data.num_test, 10)))
    assert test.tolist() == fresh.tolist() and scorer is not None
    assert nll_per_token(scorer, train) == pytest.approx(nll_per_token(oracle, train))


@pytest.mark.unit
def test_a_file_the_oracle_cannot_score_is_an_error_naming_both(tmp_path):
    _, keys = oracle_and_file(tmp_path)
    (tmp_path / "wide.txt").write_text("1 2 3 4 5 6 7 8 9 60\n" * 40)  # id 60: past the oracle's V=60
    with pytest.raises(BadFileError, match=r"wide.txt:1: token id 60 outside \[0, 60\).*data.oracle .*oracle.sgw"):
        real_data(load_config(SMOKE, [keys[0], f"data.train_file={tmp_path / 'wide.txt'}"]))
    (tmp_path / "long.txt").write_text("1 2 3 4 5 6 7 8 9 10 11\n" * 40)
    with pytest.raises(BadFileError, match=r"long.txt:1: 11 tokens.*sequences of 10 token ids"):
        real_data(load_config(SMOKE, [keys[0], f"data.train_file={tmp_path / 'long.txt'}"]))
    with pytest.raises(ValueError, match=r"\(60, 10, 0\).*model = \(70, 10, 0\)"):  # the oracle's sizes first
        real_data(load_config(SMOKE, [*keys, "model.vocab_size=70"]))


@pytest.mark.smoke
def test_a_run_on_an_oracles_samples_reports_nll_oracle(tmp_path, capsys):
    _, keys = oracle_and_file(tmp_path, count=256)
    assert main(["train", "--config", SMOKE, "--set", "rollout.num_workers=0", *keys,
                 "--out", str(tmp_path / "run")]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in records if "nll_oracle" in r]
    assert {r["phase"] for r in scored} == {"mle", "adv"}
    assert all(math.isfinite(r["nll_oracle"]) and math.isfinite(r["nll_test"]) for r in scored)


@pytest.mark.smoke
def test_the_papers_real_data_scores_like_the_imported_oracles_own_samples(tmp_path, capsys):
    """The paper's pickle and its real_data.txt (../shared/data/paper): if the import read the
    weights wrongly, the paper's samples would score far above the oracle's own."""
    pickle, real = PAPER_DATA / "target_params_py3.pkl", PAPER_DATA / "real_data.txt"
    if not (pickle.is_file() and real.is_file()):
        pytest.skip(f"the paper's oracle files are not in {PAPER_DATA}")
    assert main(["oracle", "import-seqgan", str(pickle), "--out", str(tmp_path / "oracle.sgw")]) == 0
    capsys.readouterr()
    assert main(["eval", "--oracle", str(tmp_path / "oracle.sgw"), str(real)]) == 0
    paper = float(capsys.readouterr().out)
    oracle = load_oracle(tmp_path / "oracle.sgw")
    own = nll_per_token(oracle, oracle.sample(uniforms(0, (2000, 20))))
    assert paper < math.log(5000) - 2  # far below the uniform's 8.52 nats
    assert abs(paper - own) < 0.06, (paper, own)  # two samples of one distribution: sd about 0.015
