"""The Ray edge: K actors give the inline results bit for bit, and every result names the weight
versions it was computed with. The Trainer test runs its inline learner with the learner actor's
thread count (D's training rounds differently with 1 and 2 threads)."""
from __future__ import annotations

import json

import pytest
import torch

ray = pytest.importorskip("ray")

from learner.methods import method_for
from actors.inline_pool import InlinePool  # noqa: E402
from actors.sync import MODELS  # noqa: E402
from actors.worker import RolloutWorker  # noqa: E402
from learner.learner import Learner  # noqa: E402
from learner.threads import usable_cores  # noqa: E402
from ray_support import (AUTO_UNITS, NOT_COMPARABLE, UNITS, compute_rewards, config_with,  # noqa: E402
                         inline_pool_with, inline_reference, publish_all, ray_pool, reward_units, sample_batch)
from seqgan.endings import past_end  # noqa: E402

# Variable length: token 3 ends a sentence. The data files are never read here (the learner is given
# its data); they are named only because model.end_token is for corpora, not the oracle.
END_TOKEN = ["model.end_token=3", "data.train_file=unread.txt", "data.test_file=unread.txt"]


# -- 1. K = 0, 1, 2 -----------------------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.parametrize("sizes", [UNITS, AUTO_UNITS, UNITS + END_TOKEN], ids=["explicit", "auto", "end_token"])
def test_zero_one_and_two_workers_give_identical_samples_and_rewards(ray_local, pools, sizes):
    config = config_with(*sizes)
    learner = Learner(config)
    real = torch.randint(0, config.model.vocab_size, (64, config.model.seq_len),
                         generator=torch.Generator().manual_seed(0))
    learner.load_real_data(real, real[:16])
    learner.mle_epoch(0)
    learner.pg_step(*_pg_batch(learner, config))  # G now differs from the rollout policy
    want_samples, want_rewards = inline_reference(config, learner, step=3)
    assert len(reward_units(config, want_samples)) >= 2 * 2  # enough units to spread over 2 actors
    ended = past_end(want_samples, config.model.end_token)
    if ended is not None:  # some samples end early: padding and zero rewards are exercised
        assert ended.any() and (want_rewards[ended] == 0).all()

    for k in (1, 2):
        pool = ray_pool(pools, config_with(*sizes), k)
        publish_all(pool, learner)
        samples, _ = sample_batch(pool, config)
        rewards, _ = compute_rewards(pool, config, learner, samples, step=3)
        assert torch.equal(samples, want_samples), f"K={k}: samples differ from K=0"
        assert torch.equal(rewards, want_rewards), f"K={k}: rewards differ from K=0"
        # Every actor did work: an actor syncs all published weights when it runs a unit.
        versions = [ray.get(actor.versions.remote()) for actor in pool.actors]
        assert all(v == learner.versions for v in versions), versions
        pools.remove(pool)
        pool.close()  # frees its CPUs for the next pool (the local Ray has 2)
    # A different reward step uses different draws: equal rewards above are not a coincidence.
    other, _ = compute_rewards(inline_pool_with(config, learner), config, learner, want_samples, step=4)
    assert not torch.equal(other, want_rewards)


def _pg_batch(learner: Learner, config):
    pool = InlinePool(config, method_for(config))
    publish_all(pool, learner)
    samples, _ = sample_batch(pool, config, key=99)
    return samples, torch.rand(samples.shape, generator=torch.Generator().manual_seed(1))


# -- 2. the whole algorithm, inline and on Ray ------------------------------------------------------
def _comparable_metrics(run_dir) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time_") and k not in NOT_COMPARABLE}
            for r in records]


@pytest.mark.ray
@pytest.mark.parametrize("method", ["seqgan", "pg_bleu"])
def test_trainer_metrics_inline_equal_metrics_on_ray(ray_local, tmp_path, method):
    from learner.driver import Trainer
    from learner.remote import ray_runtime

    # Inline: learner and worker in this process, with the learner actor's thread count (D's
    # training rounds differently with 1 and 2 threads; the smoke shapes' rollouts do not). Auto
    # work units, which resolve alike for 0 and 2 workers.
    auto = [*AUTO_UNITS[:5], "rollout.sample_unit=64", "rollout.timeout_s=120", f"train.method={method}"]
    inline_config = config_with(*auto)
    torch.set_num_threads(usable_cores())  # as learner.remote.LearnerActor
    Trainer(inline_config, tmp_path / "inline", Learner(inline_config), InlinePool(inline_config, method_for(inline_config))).train()

    ray_config = config_with(*auto, "rollout.num_workers=2")
    learner, pool = ray_runtime(ray_config, local=True)  # the fixture started it: checked against its size
    try:
        Trainer(ray_config, tmp_path / "ray", learner, pool).train()
        ray_records = [json.loads(line) for line in (tmp_path / "ray" / "metrics.jsonl").read_text().splitlines()]
        assert any("units_rerun" in r for r in ray_records)  # the Ray pool did report its stats
    finally:
        pool.close()
        ray.kill(learner.handle)

    assert len(reward_units(ray_config, torch.zeros(ray_config.data.batch_size, 1))) == 4  # both actors had work
    inline, on_ray = _comparable_metrics(tmp_path / "inline"), _comparable_metrics(tmp_path / "ray")
    assert [r["phase"] for r in inline] == ["mle"] * 4 + ["disc"] * 2 * (method == "seqgan") + ["adv"] * 3
    assert all(0 < r["mean_reward"] < 1 and ("d_loss" in r) == (method == "seqgan") for r in inline[-3:])
    assert inline == on_ray


def _tiny_corpus(folder) -> dict:
    """A word corpus of sentences 1 to 8 words long (seq_len 10, so every sentence ends with <eos>
    before T): samples, rollouts, MLE and NLL all see rows that end at different positions."""
    from seqgan.data.corpus_files import build_corpus

    rng = torch.Generator().manual_seed(3)
    words = [f"w{i}" for i in range(40)]

    def lines(count: int) -> str:
        lengths = torch.randint(1, 9, (count,), generator=rng).tolist()
        return "".join(" ".join(words[int(i)] for i in torch.randint(0, len(words), (n,), generator=rng)) + "\n"
                       for n in lengths)

    (folder / "train.txt").write_text(lines(256))
    (folder / "test.txt").write_text(lines(64))
    return build_corpus(str(folder / "train.txt"), folder / "corpus", test_file=str(folder / "test.txt"),
                        tokenizer="space", seq_len=10)


@pytest.mark.ray
@pytest.mark.parametrize("method", ["seqgan", "pg_bleu"])
def test_a_text_run_gives_the_same_records_with_zero_one_and_two_workers(ray_local, tmp_path, method):
    """Text runs skip the work past <eos> (rollouts of live prefixes only, stepping batches that shed
    ended rows, MLE and NLL on kept positions); what is skipped depends on the data only, so the
    records, BLEU and Self-BLEU included, are those of K = 0 for K = 1 and 2."""
    from learner.driver import Trainer
    from learner.remote import ray_runtime

    corpus = _tiny_corpus(tmp_path)
    auto = [*AUTO_UNITS[:5], "rollout.sample_unit=64", "rollout.timeout_s=120", f"train.method={method}",
            f"data.corpus={tmp_path / 'corpus'}", f"model.vocab_size={corpus['vocab_size']}",
            f"model.seq_len={corpus['seq_len']}", "model.end_token=0", "model.start_token=0"]
    inline_config = config_with(*auto)
    torch.set_num_threads(usable_cores())  # as learner.remote.LearnerActor
    Trainer(inline_config, tmp_path / "k0", Learner(inline_config), InlinePool(inline_config, method_for(inline_config))).train()
    inline = _comparable_metrics(tmp_path / "k0")
    assert any("bleu" in str(key) for record in inline for key in record)  # a text run's metrics
    assert [r["phase"] for r in inline][-3:] == ["adv"] * 3

    for k in (1, 2):
        ray_config = config_with(*auto, f"rollout.num_workers={k}")
        learner, pool = ray_runtime(ray_config, local=True)
        try:
            Trainer(ray_config, tmp_path / f"k{k}", learner, pool).train()
        finally:
            pool.close()
            ray.kill(learner.handle)
        assert _comparable_metrics(tmp_path / f"k{k}") == inline, f"K={k}: records differ from K=0"


# -- 3. stale weights are ignored --------------------------------------------------------------------
def _packs_at(learner: Learner, version: int) -> dict:
    learner.versions.update({name: version for name in MODELS})
    return {name: learner.pack(name) for name in MODELS}


@pytest.mark.ray
def test_a_stale_weight_version_is_ignored(ray_local, pools):
    config = config_with(*UNITS)
    old, new = Learner(config_with(*UNITS, "train.seed=1")), Learner(config)
    v0, v1 = _packs_at(old, 0), _packs_at(new, 1)

    # The worker itself: older and equal versions are refused, the held weights stay.
    worker = RolloutWorker(config, method_for(config))
    for name in MODELS:
        assert worker.set_weights(v1[name]) is True
        before = {k: t.clone() for k, t in worker.held.models[name].state_dict().items()}
        assert worker.set_weights(v0[name]) is False
        assert worker.set_weights(v1[name]) is False
        after = worker.held.models[name].state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
    assert worker.versions == {name: 1 for name in MODELS}

    want_samples, want_rewards = inline_reference(config, new)
    _, v0_rewards = inline_reference(config, old)
    assert not torch.equal(v0_rewards, want_rewards)  # v0 really is different weights

    pool = ray_pool(pools, config_with(*UNITS), 1)
    (actor,) = pool.actors
    for name in MODELS:
        pool.publish(name, 1, v1[name])
    samples, _ = sample_batch(pool, config)  # the actor fetches only what sampling uses: G v1
    assert ray.get(actor.versions.remote()) == {"generator": 1, "rollout": -1, "discriminator": -1}
    compute_rewards(pool, config, new, samples)  # and now the rollout policy and D
    assert ray.get(actor.versions.remote()) == {name: 1 for name in MODELS}
    for name in MODELS:
        assert ray.get(actor.set_weights.remote(v0[name])) is False
    assert ray.get(actor.versions.remote()) == {name: 1 for name in MODELS}

    samples, sample_results = sample_batch(pool, config)
    rewards, reward_results = compute_rewards(pool, config, new, samples)
    assert torch.equal(samples, want_samples) and torch.equal(rewards, want_rewards)
    assert all(r.versions == {"generator": 1} for r in sample_results)
    assert all(r.versions == {"rollout": 1, "discriminator": 1} for r in reward_results)


# -- 4. every result names the versions it was computed with ---------------------------------------------
@pytest.mark.ray
def test_every_result_carries_the_published_versions(ray_local, pools):
    config = config_with(*UNITS)
    learner = Learner(config)
    learner.versions.update({"generator": 3, "rollout": 5, "discriminator": 8})
    pool = ray_pool(pools, config_with(*UNITS), 2)
    inline = InlinePool(config, method_for(config))
    for p in (pool, inline):
        publish_all(p, learner)

    samples, sample_results = sample_batch(pool, config)
    rewards, reward_results = compute_rewards(pool, config, learner, samples)
    assert len(sample_results) > 1 and len(reward_results) > 2
    assert all(r.versions == {"generator": 3} for r in sample_results)
    assert all(r.versions == {"rollout": 5, "discriminator": 8} for r in reward_results)

    # New versions with new weights: the next results carry them and were computed with them.
    learner.pg_step(samples, rewards)  # G v4
    learner.update_rollout_policy()  # rollout v6 = the new G
    learner.load_real_data(samples, samples)
    learner.train_discriminator(torch.randint(0, config.model.vocab_size, samples.shape), 0)  # D v9
    for p in (pool, inline):
        publish_all(p, learner)
    samples2, sample_results = sample_batch(pool, config, key=1)
    rewards2, reward_results = compute_rewards(pool, config, learner, samples2, step=1)
    assert all(r.versions == {"generator": 4} for r in sample_results)
    assert all(r.versions == {"rollout": 6, "discriminator": 9} for r in reward_results)
    want_samples, _ = sample_batch(inline, config, key=1)
    want_rewards, _ = compute_rewards(inline, config, learner, want_samples, step=1)
    assert torch.equal(samples2, want_samples) and torch.equal(rewards2, want_rewards)
