"""PG-BLEU (train.method pg_bleu): SeqGAN's policy gradient with BLEU against the training data as
the reward, computed by the same rollout engine and workers as D's rewards."""
import json
import math

import pytest
import torch

from learner.methods import method_for
from actors.inline_pool import InlinePool
from actors.sync import REFERENCES, ReferenceTokens, pack_references
from actors.worker import RolloutWorker
from learner.driver import Trainer
from learner.learner import Learner
from learner.stopping import LearnerLost
from rewards.bleu.score import BleuScorer
from learner.methods import pg_bleu as pg_bleu_method
from rewards.bleu.reward import BleuRewardScorer, reference_table
from rewards.reference import reference_unit_reward_sums
from rewards.rollout import unit_reward_sums
from rewards.units import RewardUnit, SampleUnit
from seqgan.config import ConfigError
from seqgan.config_files import load_config
from seqgan.seeding import uniforms
from seqgan.sizing import ResolvedUnits

from run_support import recording_pool

pytestmark = pytest.mark.unit
PG_BLEU = ["rollout.num_workers=0", "train.mle_epochs=2", "train.adv_iterations=3", "train.eval_every=1",
           "train.method=pg_bleu"]


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def bleu_scorer(references: torch.Tensor, order: int) -> BleuRewardScorer:
    return BleuRewardScorer(reference_table(references, order))


# -- the reward of one sequence ------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 4])
def test_the_reward_is_sentence_bleu_of_the_token_ids(order):
    """Token ids score as the words they stand for would (rewards.bleu.score on strings), and as NLTK."""
    draw = torch.Generator().manual_seed(order)
    references = torch.randint(0, 20, (15, 7), generator=draw)
    hypotheses = torch.cat([references[:3], torch.randint(0, 20, (20, 7), generator=draw),
                            torch.full((1, 7), 99)])  # copies (BLEU 1), random, no match at all (0)
    got = bleu_scorer(references, order).score_sequences(hypotheses)
    words = [[f"w{t}" for t in row] for row in references.tolist()]
    hyp_words = [[f"w{t}" for t in row] for row in hypotheses.tolist()]
    scorer = BleuScorer(words, hyp_words, (order,))
    want = [scorer.score(i)[0] for i in range(len(hyp_words))]
    assert got.dtype == torch.float64 and got.tolist() == want
    assert got[:3].tolist() == [1.0] * 3 and got[-1].item() == 0.0
    assert len(set(got[3:-1].tolist())) > 2  # the random ones: partial matches, not all alike
    nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
    smoothing = nltk_bleu.SmoothingFunction().method1
    for hypothesis, mine in zip(hypotheses.tolist()[:8], got.tolist()):
        theirs = nltk_bleu.sentence_bleu(references.tolist(), hypothesis, (1.0 / order,) * order,
                                         smoothing_function=smoothing)
        assert math.isclose(mine, theirs, rel_tol=0, abs_tol=1e-12)


def test_reference_tokens_round_trip_and_refuse_other_weights(tiny_models):
    tokens = torch.randint(0, 7, (5, 6))
    packed = ReferenceTokens(tokens).pack(3)
    assert packed.model == REFERENCES and packed.version == 3
    assert torch.equal(ReferenceTokens.unpack(packed).tokens, tokens)
    generator, _ = tiny_models
    from seqgan.packing import pack_state
    with pytest.raises(ValueError, match="is not the training references"):
        ReferenceTokens.unpack(pack_state(generator.state_dict(), REFERENCES, 0))


# -- the rollout engine with the BLEU scorer --------------------------------------------------------
def direct_bleu_sums(policy, table, samples, unit):
    """Each completion made alone, token by token with the unit's draws, then scored by the table."""
    b, seq_len = samples.shape
    sums = torch.zeros(b, len(unit.prefixes), dtype=torch.float64)
    for p, t in enumerate(unit.prefixes):
        draws = unit.draws(t, seq_len)  # [b, n, T]
        for i in range(b):
            for n in range(unit.num_rollouts):
                row, state, token = [], policy.initial_state(1), torch.tensor([policy.start_token])
                for j in range(seq_len):
                    state = policy.advance(token, state)
                    token = samples[i:i + 1, j] if j < t else policy.next_tokens(state[0], draws[i:i + 1, n, j])
                    row.append(int(token))
                sums[i, p] += table.score(tuple(row))[0]
    return sums


def test_engine_with_the_bleu_scorer_equals_a_direct_loop(tiny_models):
    generator, _ = tiny_models  # V=7, T=6
    references = generator.sample(uniforms(5, (30, 6)))  # G's own sequences: completions share n-grams
    samples = generator.sample(uniforms(6, (3, 6)))
    scorer = bleu_scorer(references, 2)
    unit = RewardUnit(0, 0, 3, 1, 6, 0, 4, run_seed=2, iteration=0)
    want = direct_bleu_sums(generator, scorer.table, samples, unit)
    sizes = ResolvedUnits(0, 0, 0, 4 * 6, 10**6, 4, 128)  # one sample's rollouts at a time
    fast = unit_reward_sums(generator, scorer, samples, unit, sizes)
    torch.testing.assert_close(fast, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(reference_unit_reward_sums(generator, scorer, samples, unit), want,
                               rtol=0, atol=1e-12)
    assert len(set(want.flatten().tolist())) > 3  # the completions score differently: an informative case


# -- the worker -----------------------------------------------------------------------------------
def test_a_pg_bleu_worker_holds_the_references_and_counts_them_once_per_version(smoke_config, monkeypatch):
    config = load_config("deploy/configs/smoke.yaml", ["rollout.num_workers=0", "train.method=pg_bleu"])
    unit, sample = RewardUnit(0, 0, 2, 1, 3, 0, 2, 0, 0), SampleUnit(0, 2, 0)
    method = method_for(config)
    assert method.models_used(unit) == ("rollout", REFERENCES)
    assert method_for(smoke_config).models_used(unit) == ("rollout", "discriminator")
    assert method.models_used(sample) == ("generator",)
    worker = RolloutWorker(config, method)
    assert worker.versions == {"generator": -1, "rollout": -1, REFERENCES: -1}
    counted = []
    monkeypatch.setattr(pg_bleu_method, "reference_table",
                        lambda tokens, n, end=None: counted.append(n) or reference_table(tokens, n, end))
    tokens = torch.randint(0, 60, (40, 10))
    assert worker.set_weights(pack_references(tokens, 0)) is True
    assert worker.set_weights(pack_references(tokens, 0)) is False  # the same version: kept
    method.reward_scorer(worker.held), method.reward_scorer(worker.held)
    assert counted == [config.train.pg_bleu_order]
    assert worker.set_weights(pack_references(tokens[:20], 1)) is True
    method.reward_scorer(worker.held)
    assert counted == [4, 4] and worker.versions[REFERENCES] == 1
    with pytest.raises(RuntimeError, match="no weights for"):
        worker.run(unit, tokens[:2])  # no rollout policy yet


def test_pg_bleu_order_is_checked():
    with pytest.raises(ConfigError, match="train.pg_bleu_order must be >= 1, got 0"):
        load_config("deploy/configs/smoke.yaml", ["train.pg_bleu_order=0"])
    assert load_config("deploy/configs/smoke.yaml", ["train.method=pg_bleu"]).train.pg_bleu_order == 4


# -- the whole run -------------------------------------------------------------------------------
def test_pg_bleu_trains_g_by_policy_gradient_on_bleu_without_d(tmp_path):
    config = load_config("deploy/configs/smoke.yaml", PG_BLEU)
    assert method_for(config).pretrain_rounds() == 0
    pool = recording_pool(config)
    summary = Trainer(config, tmp_path / "run", Learner(config), pool).train()
    log = records(tmp_path / "run")
    assert [(r["phase"], r["step"]) for r in log] == [("mle", 0), ("mle", 1), ("adv", 0), ("adv", 1), ("adv", 2)]
    adversarial = [r for r in log if r["phase"] == "adv"]
    assert all("d_loss" not in r and "d_acc_heldout" not in r and "nll_oracle" in r for r in adversarial)
    assert all(0 < r["mean_reward"] < 1 for r in adversarial)
    assert len({r["g_loss"] for r in adversarial}) == 3
    assert [p for p in pool.published if p[0] in (REFERENCES, "discriminator")] == [(REFERENCES, 0)]  # once, no D
    assert summary["final_nll_oracle"] == adversarial[-1]["nll_oracle"]


def test_the_last_tokens_reward_is_the_samples_bleu(smoke_config):
    config = load_config("deploy/configs/smoke.yaml", ["rollout.num_workers=0", "train.method=pg_bleu"])
    learner = Learner(config)
    train = torch.randint(0, 60, (64, 10), generator=torch.Generator().manual_seed(0))
    learner.load_real_data(train, train[:8])
    samples = torch.cat([train[:2], torch.randint(0, 60, (6, 10), generator=torch.Generator().manual_seed(1))])
    want = bleu_scorer(train, 4).score_sequences(samples)
    assert torch.equal(learner.final_rewards(samples), want) and want[:2].tolist() == [1.0, 1.0]
    seqgan = Learner(smoke_config)
    seqgan.load_real_data(train, train[:8])
    assert torch.equal(seqgan.final_rewards(samples), seqgan.real_prob(samples))


class LosesOnce(Learner):
    """Loses the learner at one PG step, once (as a dead learner actor would); `restart` is a new one."""
    lost = False

    def pg_step(self, samples, rewards, step=None):
        if step == 1 and not LosesOnce.lost:
            LosesOnce.lost = True
            raise LearnerLost("test: the learner is gone")
        return super().pg_step(samples, rewards, step)

    def restart(self):
        self.__init__(self.config)


def test_a_restored_learner_publishes_the_references_again_and_the_run_goes_on_as_before(tmp_path):
    config = load_config("deploy/configs/smoke.yaml", [*PG_BLEU, "train.checkpoint_every=1"])
    Trainer(config, tmp_path / "clean", Learner(config), InlinePool(config, method_for(config))).train()
    pool = recording_pool(config)
    summary = Trainer(config, tmp_path / "lost", LosesOnce(config), pool).train()
    assert summary["learner_restarts"] == 1
    assert [p for p in pool.published if p[0] == REFERENCES] == [(REFERENCES, 0), (REFERENCES, 1)]
    clean = [{k: v for k, v in r.items() if not k.startswith("time_")} for r in records(tmp_path / "clean")]
    lost = [{k: v for k, v in r.items() if not k.startswith("time_") and k != "learner_restarts"}
            for r in records(tmp_path / "lost")]
    assert lost == clean


def test_report_shows_the_pg_bleu_method(tmp_path, capsys):
    from learner.cli import main

    config = load_config("deploy/configs/smoke.yaml", [*PG_BLEU, "train.adv_iterations=1"])
    Trainer(config, tmp_path / "pg", Learner(config), InlinePool(config, method_for(config))).train()
    assert main(["report", str(tmp_path / "pg")]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[2].startswith("| pg | pg_bleu | ")


@pytest.mark.unit
def test_a_bleu_reward_leaves_out_the_padding_after_the_end_token():
    """Padding is no part of a sentence: references and completions are cut at their first end token."""
    from rewards.bleu.score import ReferenceTable

    end = 0
    references = torch.tensor([[5, 6, 7, 8, 0, 0, 0, 0], [5, 6, 9, 0, 0, 0, 0, 0]])
    completions = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0], [5, 6, 9, 8, 7, 0, 0, 0]])
    scorer = BleuRewardScorer(reference_table(references, 2, end), end)
    direct = ReferenceTable([(5, 6, 7, 8), (5, 6, 9)], (2,))
    expected = [direct.score((5, 6, 7))[0], direct.score((5, 6, 9, 8, 7))[0]]
    assert scorer.score_sequences(completions).tolist() == expected
    padded = BleuRewardScorer(reference_table(references, 2), None)  # fixed length: padding counts
    assert padded.score_sequences(completions).tolist() != expected


def test_pg_bleu_ranks_a_copy_of_a_reference_above_random_tokens():

    generator = torch.Generator().manual_seed(3)
    references = torch.randint(0, 50, (30, 12), generator=generator)
    scorer = BleuRewardScorer(reference_table(references, 4))
    copies = references[:5]
    random_rows = torch.randint(0, 50, (5, 12), generator=generator)
    copy_scores, random_scores = scorer.score_sequences(copies), scorer.score_sequences(random_rows)
    assert (copy_scores == 1.0).all() and (random_scores < 0.5).all()
    assert copy_scores.min() > random_scores.max()
