import math

import pytest
import torch

from learner.methods import method_for
from learner.learner import Learner, policy_gradient_loss
from seqgan.seeding import uniforms


@pytest.mark.unit
def test_policy_gradient_loss_hand_computed():
    log_probs = torch.log(torch.tensor([[0.5, 0.25], [0.1, 0.8]]))
    rewards = torch.tensor([[1.0, 2.0], [0.5, 0.0]])
    want = -(math.log(0.5) * 1 + math.log(0.25) * 2 + math.log(0.1) * 0.5 + math.log(0.8) * 0)
    assert math.isclose(policy_gradient_loss(log_probs, rewards).item(), want, rel_tol=1e-6)
    assert policy_gradient_loss(log_probs, rewards).item() > 0  # -log p * positive reward


@pytest.mark.unit
def test_pg_step_raises_probability_of_rewarded_samples(smoke_config):
    learner = Learner(smoke_config)
    samples = learner.generator.sample(uniforms(0, (32, smoke_config.model.seq_len)))
    good = torch.zeros(32, smoke_config.model.seq_len)
    good[:16] = 1.0  # reward the first half only
    before = learner.generator.log_probs(samples).sum(-1).detach()
    learner.pg_step(samples, good)
    after = learner.generator.log_probs(samples).sum(-1).detach()
    assert (after[:16] - before[:16]).mean() > 0
    assert (after[:16] - before[:16]).mean() > (after[16:] - before[16:]).mean()


@pytest.mark.unit
def test_rollout_policy_mixing(smoke_config):
    smoke_config.rollout.update_rate = 0.8
    learner = Learner(smoke_config)
    old = [p.clone() for p in learner.rollout.parameters()]
    with torch.no_grad():
        for p in learner.generator.parameters():
            p.add_(1.0)
    learner.update_rollout_policy()
    names = [name for name, _ in learner.rollout.named_parameters()]
    for name, before, after, g in zip(names, old, learner.rollout.parameters(), learner.generator.parameters()):
        # The paper's code copies the embedding and mixes the LSTM and output layer.
        torch.testing.assert_close(after, g if name.startswith("embedding.") else 0.8 * before + 0.2 * g)
    assert any(n.startswith("embedding.") for n in names) and any(n.startswith("lstm.") for n in names)
    assert learner.versions["rollout"] == 1


@pytest.mark.unit
def test_mle_and_discriminator_learn(smoke_config):
    smoke_config.discriminator.lr = 3e-3  # the paper's 1e-4 needs far more data than a unit test
    learner = Learner(smoke_config)
    t = smoke_config.model.seq_len
    real = torch.randint(0, 5, (128, t))  # a narrow "real" distribution: tokens 0..4
    learner.load_real_data(real, torch.randint(0, 5, (32, t)))
    first = learner.mle_epoch(0)
    for epoch in range(1, 6):
        last = learner.mle_epoch(epoch)
    assert last < first and learner.nll_test() < 2.0 < torch.log(torch.tensor(60.0))
    fake = torch.randint(30, 60, (128, t))
    stats = [learner.train_discriminator(fake, k) for k in range(4)]
    assert stats[-1]["d_acc"] > 0.9 and stats[-1]["d_loss"] < stats[0]["d_loss"]
    assert learner.real_prob(real).mean() > learner.real_prob(fake).mean()
    unseen_fake = torch.randint(30, 60, (48, t))
    held = learner.disc_heldout(unseen_fake)
    assert held["d_acc_heldout"] > 0.9 and held["d_real_heldout"] > 0.5 > held["d_fake_heldout"]
    right = (learner.real_prob(learner.test_data) > 0.5).sum() + (learner.real_prob(unseen_fake) <= 0.5).sum()
    assert held["d_acc_heldout"] == pytest.approx(right.item() / 80)


@pytest.mark.unit
def test_training_from_token_files_has_no_oracle_metrics(tmp_path, smoke_config):
    import json

    from actors.inline_pool import InlinePool
    from learner.driver import Trainer
    from seqgan.data.tokens import write_tokens
    draw = torch.Generator().manual_seed(0)
    write_tokens(tmp_path / "train.txt", torch.randint(0, 60, (64, 10), generator=draw))
    write_tokens(tmp_path / "test.txt", torch.randint(0, 60, (32, 10), generator=draw))
    c = smoke_config
    c.data.train_file, c.data.test_file = str(tmp_path / "train.txt"), str(tmp_path / "test.txt")
    c.train.mle_epochs, c.train.disc_pretrain_rounds, c.train.adv_iterations = 1, 1, 1
    summary = Trainer(c, tmp_path / "run", Learner(c), InlinePool(c, method_for(c))).train()
    assert summary["best_nll_oracle"] is None and summary["mle_nll_oracle"] is None
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("nll_oracle" not in r for r in records) and "nll_test" in records[-1]
    last_disc = [r for r in records if r["phase"] == "disc"][-1]
    for record in (last_disc, records[-1]):  # D on held-out data after pre-training and when evaluated
        assert 0.0 <= record["d_acc_heldout"] <= 1.0 and 0.0 < record["d_fake_heldout"] < 1.0, record
    def refuse(constant):
        raise AssertionError(f"summary.json holds {constant}, which is not JSON")
    json.loads((tmp_path / "run" / "summary.json").read_text(), parse_constant=refuse)


@pytest.mark.unit
def test_cuda_graphs_without_a_gpu_learner_is_a_clear_error(smoke_config):
    smoke_config.learner.device, smoke_config.learner.cuda_graphs = "cpu", True
    with pytest.raises(ValueError, match="learner.cuda_graphs needs the learner on a CUDA device.*'cpu'"):
        Learner(smoke_config)


@pytest.mark.unit
def test_phase_times_land_in_their_own_records_and_each_version_is_published_once(tmp_path, smoke_config):
    import json

    from learner.driver import Trainer
    from run_support import recording_pool

    c = smoke_config  # checkpoints every 2 steps of each phase and at its end
    pool = recording_pool(c)
    Trainer(c, tmp_path / "run", Learner(c), pool).train()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    checkpointed = [(r["phase"], r["step"]) for r in records if "time_checkpoint" in r]
    t = c.train
    due = [(phase, i) for phase, count in (("mle", t.mle_epochs), ("disc", t.disc_pretrain_rounds),
                                          ("adv", t.adv_iterations))
           for i in range(count) if (i + 1) % t.checkpoint_every == 0 or i == count - 1]
    assert checkpointed == due
    assert len(pool.published) == len(set(pool.published)), pool.published  # no version sent twice
