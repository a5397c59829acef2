"""The paper's baselines as config switches: MLE only and scheduled sampling, on SeqGAN's schedule."""
import json

import pytest
import torch

from learner.methods import method_for
from actors.inline_pool import InlinePool
from learner.driver import Trainer
from learner.learner import Learner
from seqgan.config import ConfigError
from seqgan.config_files import load_config
from seqgan.scheduled_sampling import keep_probability, scheduled_sampling_logits

BASELINE = ["rollout.num_workers=0", "train.mle_epochs=2", "train.adv_iterations=3", "train.eval_every=1"]


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.unit
def test_all_real_inputs_are_teacher_forcing(tiny_models):
    generator, _ = tiny_models
    tokens = torch.randint(0, 7, (5, 6))
    keep = torch.ones(5, 6, dtype=torch.bool)
    draws = torch.rand(5, 6, dtype=torch.float64)
    ss = scheduled_sampling_logits(generator, tokens, keep, draws)
    assert torch.allclose(ss, generator(tokens), atol=1e-10)


@pytest.mark.unit
def test_sampled_inputs_are_the_models_own_tokens(tiny_models):
    """keep all false: the logits are those of G run on its own samples drawn with the same uniforms."""
    generator, _ = tiny_models
    tokens = torch.randint(0, 7, (5, 6))
    draws = torch.rand(5, 6, dtype=torch.float64)
    ss = scheduled_sampling_logits(generator, tokens, torch.zeros(5, 6, dtype=torch.bool), draws)
    own = generator.sample(draws)  # y_t drawn with draws[:, t-1] ... as the rollout engine does
    assert torch.allclose(ss, generator(own), atol=1e-10)
    mixed = torch.zeros(5, 6, dtype=torch.bool)
    mixed[:, 3] = True  # only the input at t=3 is real: logits up to 3 are G's own, then they differ
    partial = scheduled_sampling_logits(generator, tokens, mixed, draws)
    assert torch.allclose(partial[:, :3], ss[:, :3], atol=1e-12) and not torch.allclose(partial[:, 3], ss[:, 3])


@pytest.mark.unit
def test_keep_probability_decays_linearly_from_one():
    assert [keep_probability(i, 5, 0.5) for i in range(5)] == [1.0, 0.875, 0.75, 0.625, 0.5]
    assert keep_probability(0, 1, 0.3) == 0.3


@pytest.mark.unit
def test_method_and_final_keep_are_checked():
    with pytest.raises(ConfigError, match="train.method must be one of seqgan, mle, ss, pg_bleu, got 'gan'"):
        load_config("deploy/configs/smoke.yaml", ["train.method=gan"])
    with pytest.raises(ConfigError, match="train.ss_final_keep must be in"):
        load_config("deploy/configs/smoke.yaml", ["train.ss_final_keep=1.5"])


@pytest.mark.unit
@pytest.mark.parametrize("method", ["mle", "ss"])
def test_a_baseline_skips_d_and_trains_on_the_adversarial_schedule(method, tmp_path):
    config = load_config("deploy/configs/smoke.yaml", [*BASELINE, f"train.method={method}"])
    assert method_for(config).pretrain_rounds() == 0
    summary = Trainer(config, tmp_path / method, Learner(config), InlinePool(config, method_for(config))).train()
    log = records(tmp_path / method)
    assert [(r["phase"], r["step"]) for r in log] == [("mle", 0), ("mle", 1), ("adv", 0), ("adv", 1), ("adv", 2)]
    adversarial = [r for r in log if r["phase"] == "adv"]
    assert all("d_loss" not in r and "mean_reward" not in r and "nll_oracle" in r for r in adversarial)
    assert all(r["g_loss"] > 0 for r in adversarial)
    if method == "ss":
        assert [r["ss_keep"] for r in adversarial] == [1.0, 0.75, 0.5]
    assert summary["final_nll_oracle"] == adversarial[-1]["nll_oracle"]


@pytest.mark.unit
def test_mle_baseline_continues_mle_as_more_epochs_would(tmp_path):
    """mle with k adversarial iterations trains G exactly as k more pre-training epochs do."""
    base = load_config("deploy/configs/smoke.yaml", [*BASELINE, "train.method=mle"])
    Trainer(base, tmp_path / "mle", Learner(base), InlinePool(base, method_for(base))).train()
    longer = load_config("deploy/configs/smoke.yaml", [*BASELINE, "train.mle_epochs=5", "train.adv_iterations=0",
                                                        "train.disc_pretrain_rounds=0"])
    Trainer(longer, tmp_path / "long", Learner(longer), InlinePool(longer, method_for(longer))).train()
    losses = [r["g_loss"] for r in records(tmp_path / "mle")]
    assert losses == [r["g_loss"] for r in records(tmp_path / "long")]


@pytest.mark.unit
def test_report_has_a_row_per_run_with_its_method_and_scores(tmp_path, capsys):
    from learner.cli import main

    runs = []
    for method in ("mle", "ss"):
        config = load_config("deploy/configs/smoke.yaml", [*BASELINE, f"train.method={method}"])
        Trainer(config, tmp_path / method, Learner(config), InlinePool(config, method_for(config))).train()
        runs.append(tmp_path / method)
    assert main(["report", *map(str, runs), "--places", "4"]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0] == ("| run | method | NLL-oracle after MLE | best NLL-oracle | final NLL-oracle | "
                        "final NLL-test |")
    for line, run, method in zip(table[2:], runs, ("mle", "ss")):
        nll = [r["nll_oracle"] for r in records(run) if "nll_oracle" in r]
        mle = [r["nll_oracle"] for r in records(run) if "nll_oracle" in r and r["phase"] == "mle"]
        test = [r["nll_test"] for r in records(run) if "nll_test" in r]
        assert line == f"| {method} | {method} | {mle[-1]:.4f} | {min(nll):.4f} | {nll[-1]:.4f} | {test[-1]:.4f} |"
    assert len(table) == 4
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no run at" in capsys.readouterr().err


@pytest.mark.unit
def test_report_by_method_gives_each_methods_mean_and_spread_over_its_seeds(tmp_path, capsys):
    import statistics

    from learner.cli import main

    runs = []
    for method, seed in (("mle", 1), ("ss", 1), ("mle", 2)):
        config = load_config("deploy/configs/smoke.yaml", [*BASELINE, f"train.method={method}", f"train.seed={seed}"])
        Trainer(config, tmp_path / f"{method}{seed}", Learner(config), InlinePool(config, method_for(config))).train()
        runs.append(tmp_path / f"{method}{seed}")
    assert main(["report", *map(str, runs), "--places", "5", "--by-method"]) == 0
    tables = capsys.readouterr().out.strip().split("\n\n")
    assert len(tables) == 2 and len(tables[0].splitlines()) == 2 + 3
    by_method = tables[1].splitlines()
    assert by_method[0].startswith("| method | runs | seeds | NLL-oracle after MLE | best NLL-oracle |")
    best = {run.name: min(r["nll_oracle"] for r in records(run) if "nll_oracle" in r) for run in runs}
    assert best["mle1"] != best["mle2"]  # the seeds train differently: a spread to report
    mle_best = f"{statistics.fmean([best['mle1'], best['mle2']]):.5f} ± {statistics.stdev([best['mle1'], best['mle2']]):.5f}"
    assert by_method[2].startswith("| mle | 2 | 1, 2 | ") and by_method[2].split(" | ")[4] == mle_best
    assert by_method[3].startswith("| ss | 1 | 1 | ") and by_method[3].split(" | ")[4] == f"{best['ss1']:.5f}"
    assert len(by_method) == 4
