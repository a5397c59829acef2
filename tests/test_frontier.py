"""Temperature sampling and `seqgan frontier`: quality against diversity over a temperature sweep."""
import json
import math
import random
import shutil

import pytest
import torch

from learner.cli import main
from learner.watch.equal_diversity import compare, curve, dominance, equal_diversity, mean_curve, quality_at
from learner.watch.frontier import sampled, sweep, temperature_list
from learner.watch.frontier_plot import check_marks, parse_mark
from learner.watch.frontier_runs import ORACLE, FrontierRun, HeldOut
from seqgan.metrics import nll_per_token
from seqgan.models import Generator, sample_tokens
from seqgan.oracle import new_oracle
from seqgan.seeding import uniforms

# The smoke preset cut to seconds, inline, evaluated and checkpointed at every step.
TINY = ["rollout.num_workers=0", "train.mle_epochs=2", "train.disc_pretrain_rounds=1", "train.adv_iterations=2",
        "data.num_train=64", "data.num_test=64", "train.eval_samples=64",
        "train.eval_every=1", "train.checkpoint_every=1"]


def tiny_run(folder, method: str, extra=()) -> str:
    run = folder / method
    assert main(["train", "--config", "deploy/configs/smoke.yaml", "--out", str(run), "--set", *TINY,
                 f"train.method={method}", *extra]) == 0
    return str(run)


@pytest.fixture(scope="module")
def oracle_runs(tmp_path_factory):
    """An MLE and a scheduled-sampling run of the (cut) smoke preset (no D: seconds), on the same oracle."""
    folder = tmp_path_factory.mktemp("frontier")
    return [tiny_run(folder, "mle"), tiny_run(folder, "ss")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- temperature -------------------------------------------------------------------------------

@pytest.mark.unit
def test_temperature_one_is_the_untempered_sample_bit_for_bit_and_tau_is_coupled():
    model = Generator(40, 8, 8, 12, end_token=3).init_normal_(0.8).eval()
    draws = uniforms(5, (300, 12))
    today = model.sample(draws)
    assert torch.equal(model.sample(draws, 1.0), today)
    logits = model(today)  # the untempered log-probabilities, written out
    by_hand = torch.log_softmax(logits, -1).gather(-1, today.unsqueeze(-1)).squeeze(-1)
    assert torch.equal(model.log_probs(today, 1.0), by_hand)
    assert not torch.equal(model.sample(draws, 0.7), today)
    # Coupling: one step from the same state, a draw's token at two temperatures comes from the same
    # uniform; a very low τ gives the most likely token whatever the draw.
    step_logits = torch.randn(64, 40, generator=torch.Generator().manual_seed(1))
    draw = torch.rand(64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.equal(sample_tokens(step_logits / 1e-3, draw), step_logits.argmax(-1))


@pytest.mark.unit
def test_log_probs_at_a_temperature_are_the_tempered_softmax():
    model = Generator(20, 6, 6, 5).init_normal_(0.5).double().eval()
    tokens = model.sample(uniforms(0, (10, 5)))
    expected = torch.log_softmax(model(tokens) / 0.6, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(model.log_probs(tokens, 0.6), expected)
    assert nll_per_token(model, tokens, temperature=0.6) == pytest.approx(-expected.mean().item())


@pytest.mark.unit
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_as_tau_falls_nll_oracle_falls_and_nll_test_rises(seed):
    """Caccia et al.'s trade-off, on a small oracle with a generator close to it (its weights plus noise)."""
    oracle = new_oracle(30, 8, 8, 10, 0, seed)
    generator = Generator(30, 8, 8, 10)
    noise = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for mine, true in zip(generator.parameters(), oracle.parameters()):
            mine.copy_(true + 0.1 * torch.randn(true.shape, generator=noise))
    test = oracle.sample(uniforms(seed + 200, (500, 10)))
    run = FrontierRun("r", "r", "mle", seed, "step-0", True, generator.eval(), HeldOut(ORACLE, test, oracle, None, ""),
                      None)
    points = sweep(run, [0.4, 0.6, 0.8, 1.0], samples=500, seed=seed)
    oracle_nll = [p["nll_oracle"] for p in points]
    test_nll = [p["nll_test"] for p in points]
    assert oracle_nll == sorted(oracle_nll) and len(set(oracle_nll)) == 4, oracle_nll  # rises with τ
    assert test_nll == sorted(test_nll, reverse=True) and len(set(test_nll)) == 4, test_nll  # falls with τ
    if seed == 0:  # the temperatures shared out over two processes: the same points
        assert sweep(run, [0.4, 0.6, 0.8, 1.0], samples=500, seed=seed, processes=2) == points


@pytest.mark.unit
def test_temperature_lists():
    assert temperature_list("0.5:1.5:0.05") == [round(0.5 + 0.05 * k, 10) for k in range(21)]
    assert temperature_list("0.7, 0.5,0.7") == [0.5, 0.7, 1.0]  # sorted, distinct, τ = 1 added
    for bad, said in [("", "empty list"), ("0,1", "got 0.0"), ("-0.5", "got -0.5"), ("nan", "got nan"),
                      ("inf", "got inf"), ("0.5:1.5:0", "STEP > 0"), ("1.5:0.5:0.1", "START <= STOP"),
                      ("0.5:1", "START:STOP:STEP"), ("a", "expected a number")]:
        with pytest.raises(ValueError, match=said):
            temperature_list(bad)


# -- quality at equal diversity ---------------------------------------------------------------

def entry(method, points):
    return {"method": method, "points": [{"temperature": t, "nll_test": x, "nll_oracle": y} for t, x, y in points]}


@pytest.mark.unit
def test_quality_at_a_diversity_level_is_interpolated_and_the_better_branch_wins():
    # A U-shaped NLL-test: 4.0 is reached at τ 0.75 (between the first two points) and at τ 1.25.
    u_curve = curve(entry("a", [(0.5, 5.0, 2.0), (1.0, 3.0, 4.0), (1.5, 5.0, 6.0)])["points"], "oracle")
    assert quality_at(u_curve, 4.0, lower_is_better=True) == pytest.approx((3.0, 0.75))
    assert quality_at(u_curve, 4.0, lower_is_better=False) == pytest.approx((5.0, 1.25))
    assert quality_at(u_curve, 2.0, True) is None  # never that diverse
    assert mean_curve([[(1.0, 2.0, 0.5)], [(3.0, 6.0, 0.5)]]) == [(2.0, 4.0, 0.5)]


@pytest.mark.unit
def test_equal_diversity_and_which_curve_is_better():
    # MLE's NLL-test is U-shaped in τ; its mean at τ = 1 is 4.1, the level of equal diversity.
    mle = [entry("mle", [(0.5, 6.0, 3.0), (1.0, 4.0, 5.0), (1.5, 4.5, 6.0)]),
           entry("mle", [(0.5, 6.2, 3.0), (1.0, 4.2, 5.0), (1.5, 4.0, 6.0)])]
    gan = [entry("gan", [(0.5, 7.0, 2.0), (1.0, 5.0, 4.0), (1.5, 5.5, 5.0)])]  # 0.1 better at every NLL-test
    result = equal_diversity(mle + gan, "oracle", "mle")
    assert result["level"] == pytest.approx(4.1)
    assert result["methods"]["gan"]["runs"] == [None]  # its NLL-test never falls to 4.1
    runs = result["methods"]["mle"]["runs"]  # run 1 reaches 4.1 twice (4.9 at τ 0.975, 5.2 at τ 1.1): the better
    assert [(r["quality"], r["temperature"]) for r in runs] == [pytest.approx((4.9, 0.975)), pytest.approx((5.5, 1.25))]
    assert (result["methods"]["mle"]["mean"], result["methods"]["mle"]["sd"]) == pytest.approx((5.2, math.sqrt(0.18)))
    verdict = dominance(mle + gan, "oracle")[0]
    assert verdict["better"] == "gan" and (verdict["from"], verdict["to"]) == pytest.approx((5.0, 6.1))
    crossing = compare("a", [(1.0, 1.0, 0.5), (3.0, 3.0, 1.0)], "b", [(1.0, 2.0, 0.5), (3.0, 2.0, 1.0)], True)
    assert crossing["better"] is None and crossing["verdict"] == "the curves cross"
    apart = compare("a", [(1.0, 1.0, 0.5), (2.0, 1.0, 1.0)], "b", [(3.0, 2.0, 0.5), (4.0, 2.0, 1.0)], True)
    assert apart["verdict"] == "no shared diversity range"
    assert equal_diversity(gan, "oracle", "mle")["level"] is None  # no baseline run


# -- the command ------------------------------------------------------------------------------

@pytest.mark.smoke
def test_frontier_command_table_json_plot(oracle_runs, tmp_path, capsys):
    out, plot = tmp_path / "f.json", tmp_path / "f.png"
    assert main(["frontier", *oracle_runs, "--samples", "64", "--temperatures", "0.5,0.8", "--out", str(out),
                 "--plot", str(plot), "--judge", oracle_runs[0]]) == 0
    captured = capsys.readouterr()
    assert "| mle | mle | 0.5 |" in captured.out and "mle vs ss:" in captured.out
    assert "ss: τ=1 (3/3)" in captured.err  # progress
    document = json.loads(out.read_text())
    assert {k: document[k] for k in ("schema", "kind", "quality", "diversity", "samples", "seed", "checkpoint",
                                     "temperatures")} == {
        "schema": 1, "kind": "oracle", "quality": "nll_oracle", "diversity": "nll_test", "samples": 64, "seed": 0,
        "checkpoint": "final", "temperatures": [0.5, 0.8, 1.0]}
    assert [(e["method"], e["seed"], e["finished"]) for e in document["runs"]] == [("mle", 0, True), ("ss", 0, True)]
    for run in document["runs"]:
        assert run["checkpoint"].startswith("step-") and [p["temperature"] for p in run["points"]] == [0.5, 0.8, 1.0]
        assert all(set(p) == {"temperature", "nll_oracle", "nll_test", "lm_score"} and p["nll_oracle"] > 0
                   for p in run["points"])
    judged_by_itself = [p["lm_score"] for p in document["runs"][0]["points"]]
    assert judged_by_itself == sorted(judged_by_itself)  # G's own sharper samples are likelier under G
    assert document["judge"]["run"] == oracle_runs[0]
    assert document["equal_diversity"]["level"] == document["runs"][0]["points"][2]["nll_test"]
    assert set(document["equal_diversity"]["methods"]) == {"mle", "ss"}
    assert document["dominance"][0]["methods"] == ["mle", "ss"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    # τ = 1 at the frontier is `seqgan sample`'s sample: same draws, same generator
    assert main(["sample", "--run", oracle_runs[0], "-n", "64", "--out", str(tmp_path / "s.txt")]) == 0
    from learner.run.checkpoint import load_generator
    from seqgan.data.tokens import read_tokens
    generator = load_generator(oracle_runs[0])
    assert torch.equal(sampled(generator, 64, 0, 1.0), read_tokens(tmp_path / "s.txt", 60, 10))
    assert main(["sample", "--run", oracle_runs[0], "-n", "64", "--temperature", "0.5", "--out",
                 str(tmp_path / "cold.txt")]) == 0
    assert torch.equal(sampled(generator, 64, 0, 0.5), read_tokens(tmp_path / "cold.txt", 60, 10))
    with pytest.raises(SystemExit) as refused:
        main(["sample", "--run", oracle_runs[0], "-n", "4", "--temperature", "-1", "--out", str(tmp_path / "x")])
    assert refused.value.code == 2 and "expected a temperature: a finite number > 0, got '-1'" in capsys.readouterr().err
    # the report's columns from the frontier's JSON
    capsys.readouterr()
    assert main(["report", *oracle_runs, "--by-method", "--frontier", str(out)]) == 0
    report = capsys.readouterr().out
    assert "NLL-oracle at mle's τ = 1 NLL-test" in report and "curve better than" in report


@pytest.mark.smoke
def test_frontier_best_checkpoint_and_bad_input(oracle_runs, tmp_path, capsys):
    # Two MLE epochs and a checkpoint after each: the best evaluation's checkpoint is kept.
    other = tiny_run(tmp_path, "mle", ["data.oracle_seed=7", "train.adv_iterations=0"])
    capsys.readouterr()
    assert main(["frontier", other, "--samples", "16", "--temperatures", "1", "--checkpoint", "best", "--json"]) == 0
    records = [json.loads(line) for line in open(f"{other}/metrics.jsonl")]
    best = min((r for r in records if "nll_oracle" in r), key=lambda r: r["nll_oracle"])
    chosen = json.loads(capsys.readouterr().out)["runs"][0]["checkpoint"]
    progress = json.load(open(f"{other}/checkpoints/{chosen}/progress.json"))
    assert (progress["pending"]["phase"], progress["pending"]["step"]) == (best["phase"], best["step"])

    def refused(*args) -> str:
        with pytest.raises(SystemExit) as exit_status:
            main(["frontier", *args])
        assert exit_status.value.code == 2
        return capsys.readouterr().err

    for bad in ("0", "-1", "nan", "inf", "", "0.5:1.5:-0.1"):
        assert "--temperatures" in refused(oracle_runs[0], "--temperatures", bad)
    assert "expected 2 to" in refused(oracle_runs[0], "--samples", "1")
    assert "a mark is LABEL:KEY=VALUE" in refused(oracle_runs[0], "--mark", "0.2")
    assert main(["frontier", oracle_runs[0], "--mark", "x:nll_oracle=9"]) == 2
    assert "--mark draws published points on the plot: give --plot" in capsys.readouterr().err
    assert main(["frontier", oracle_runs[0], "--mark", "x:bleu_5=0.2", "--plot", str(tmp_path / "m.png")]) == 2
    assert "mark 'x' has no nll_oracle" in capsys.readouterr().err and not (tmp_path / "m.png").exists()
    (tmp_path / "empty").mkdir()
    assert main(["frontier", str(tmp_path / "empty")]) == 2
    assert "holds no run (no config.yaml)" in capsys.readouterr().err
    assert main(["frontier", oracle_runs[0], other, "--samples", "16", "--temperatures", "1"]) == 2
    assert "are on different oracles" in capsys.readouterr().err
    (tmp_path / "taken.json").write_text("mine")
    assert main(["frontier", oracle_runs[0], "--out", str(tmp_path / "taken.json")]) == 2
    assert (tmp_path / "taken.json").read_text() == "mine" and "already exists" in capsys.readouterr().err
    shutil.rmtree(f"{other}/checkpoints/{chosen}")  # the run no longer keeps its best generator
    assert main(["frontier", other, "--samples", "16", "--checkpoint", "best"]) == 2
    assert f"its best nll_oracle ({best['nll_oracle']:.4f}, mle step {best['step']}) has no kept checkpoint" in \
        capsys.readouterr().err


@pytest.mark.smoke
def test_frontier_of_a_text_run_scores_bleu_and_self_bleu(tmp_path, capsys):
    from seqgan.data.corpus_files import read_corpus

    lines = [" ".join(random.Random(i).choices(["a", "dog", "cat", "runs", "on", "the", "mat", "."], k=1 + i % 6))
             for i in range(200)]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n")
    corpus = tmp_path / "c"
    assert main(["corpus", "build", str(tmp_path / "t.txt"), "--test-fraction", "0.2", "--tokenizer", "space",
                 "--seq-len", "8", "--out", str(corpus)]) == 0
    vocab = len(read_corpus(corpus).vocabulary)
    run = tiny_run(tmp_path, "mle", [f"data.corpus={corpus}", f"model.vocab_size={vocab}", "model.seq_len=8",
                                     "model.end_token=0"])
    capsys.readouterr()
    assert main(["frontier", run, "--samples", "32", "--temperatures", "0.5", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["kind"], document["quality"], document["diversity"]) == ("text", "bleu_5", "self_bleu_5")
    points = document["runs"][0]["points"]
    measures = {f"{kind}_{n}" for kind in ("bleu", "self_bleu") for n in range(2, 6)}
    assert set(points[0]) == {"temperature", "nll_test", *measures}
    assert all(0 <= p["bleu_5"] <= 1 and 0 <= p["self_bleu_5"] <= 1 for p in points)
    assert points[0]["nll_test"] > points[1]["nll_test"]
    # τ = 1: the text metrics of `seqgan sample`'s 32 sequences against the corpus's test split
    from rewards.bleu.text_metrics import TextMetrics
    from seqgan.data.tokens import read_tokens
    assert main(["sample", "--run", run, "-n", "32", "--out", str(tmp_path / "s.txt")]) == 0
    scores = TextMetrics(read_corpus(corpus).test, 0)(read_tokens(tmp_path / "s.txt", vocab, 8))
    assert points[1] == {"temperature": 1.0, "nll_test": points[1]["nll_test"],
                         **{k: v for k, v in scores.items() if k != "bleu_hypotheses"}}


def reverse_lm_inputs():
    from seqgan.config_files import load_config
    from seqgan.data.real_data import real_data

    config = load_config("deploy/configs/smoke.yaml", TINY)
    train, test, _ = real_data(config)
    junk = train[:1].repeat(len(train), 1)  # one sequence, over and over: no diversity at all
    return config, [train, junk], test


@pytest.mark.unit
def test_reverse_lm_of_diverse_samples_explains_the_test_set_better():
    from learner.watch.reverse_lm import reverse_lm_scores

    config, sample_sets, test = reverse_lm_inputs()
    real, junk = reverse_lm_scores(config, sample_sets, test)
    assert real < junk
    with pytest.raises(ValueError, match="at least data.batch_size = 32, got 8"):
        reverse_lm_scores(config, [sample_sets[0][:8]], test)


@pytest.mark.ray
@pytest.mark.slow
def test_reverse_lm_as_ray_tasks_scores_as_inline():
    from learner.watch.reverse_lm import reverse_lm_scores

    config, sample_sets, test = reverse_lm_inputs()
    assert reverse_lm_scores(config, sample_sets, test, workers=2) == reverse_lm_scores(config, sample_sets, test)


@pytest.mark.unit
def test_plot_of_text_runs_with_seeds_as_a_band(tmp_path):
    from learner.watch.frontier_plot import draw_marks, method_band, plot_frontier

    def text_entry(method, seed, shift):
        return {"method": method, "seed": seed, "points": [
            {"temperature": t, "bleu_5": 0.2 + shift - 0.1 * t, "self_bleu_5": 0.6 - 0.2 * t, "nll_test": 3 + t}
            for t in (0.5, 1.0, 1.5)]}

    entries = [text_entry("mle", 0, 0.0), text_entry("mle", 1, 0.02), text_entry("seqgan", 0, 0.05)]
    document = {"kind": "text", "samples": 10, "seed": 0, "checkpoint": "final", "temperatures": [0.5, 1.0, 1.5],
                "runs": entries, "equal_diversity": equal_diversity(entries, "text", "mle")}
    assert method_band(entries[:2], "self_bleu_5", "bleu_5")[1] == pytest.approx((1.0, 0.4, 0.11, math.sqrt(2e-4)))
    plot_frontier(document, str(tmp_path / "text.png"))
    assert (tmp_path / "text.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "text.png").stat().st_size > 10_000
    # Published points as reference markers: a point where both axes are given, a level where only BLEU-5 is.
    marked = {**document, "marks": [parse_mark("Texygen MLE:bleu_5=0.189,self_bleu_5=0.408"),
                                    parse_mark("a: b:bleu_5=0.25")]}
    assert marked["marks"][1] == {"label": "a: b", "bleu_5": 0.25}
    plot_frontier(marked, str(tmp_path / "marked.png"))
    assert (tmp_path / "marked.png").read_bytes() != (tmp_path / "text.png").read_bytes()
    from matplotlib.figure import Figure
    axes = Figure().subplots()
    draw_marks(axes, marked["marks"], "self_bleu_5", "bleu_5")
    assert [tuple(line.get_xydata()[0]) for line in axes.lines] == [(0.408, 0.189), (0.0, 0.25)]
    assert [line.get_label() for line in axes.lines] == ["Texygen MLE (published)", "a: b (published)"]


@pytest.mark.unit
@pytest.mark.parametrize("text, message", [
    ("bleu_5=0.2", "a mark is LABEL:KEY=VALUE"), (":bleu_5=0.2", "a mark is LABEL:KEY=VALUE"),
    ("x:bleu=0.2", "'bleu=0.2' is not KEY=VALUE with KEY one of nll_oracle"), ("x:bleu_5", "is not KEY=VALUE"),
    ("x:bleu_5=high", "bleu_5 must be a finite number, got 'high'"), ("x:nll_test=inf", "must be a finite number")])
def test_a_malformed_mark_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_mark(text)


@pytest.mark.unit
def test_a_mark_without_the_runs_quality_measure_is_refused():
    check_marks([parse_mark("x:bleu_5=0.2,self_bleu_5=0.5")], "text")
    with pytest.raises(ValueError, match="mark 'x' has no nll_oracle: oracle runs are drawn with NLL-oracle"):
        check_marks([parse_mark("x:bleu_5=0.2,self_bleu_5=0.5")], "oracle")
