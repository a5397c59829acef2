"""Variable-length sequences (model.end_token): padded sampling on every path, masked losses and NLL,
zero rewards past the end, and end_token None leaving everything as it was."""
import pytest
import torch
import torch.nn.functional as F

from learner.methods import method_for
from actors.worker import RolloutWorker
from learner.driver import real_data
from learner.learner import Learner, mle_loss, policy_gradient_loss
from rewards.reference import reference_unit_reward_sums
from rewards.units import SampleUnit, assemble_rewards, split_rewards
from seqgan.config import ConfigError
from seqgan.config_files import load_config
from seqgan.endings import kept_mean, pad_after_end, past_end
from seqgan.errors import BadFileError
from seqgan.metrics import nll_per_token
from seqgan.seeding import uniforms
from test_rollout import all_units, fast

END = 2
SMOKE = "deploy/configs/smoke.yaml"
CORPUS = ["data.train_file=train.txt", "data.test_file=test.txt"]  # validate() does not read them


def ending(generator, end=END, bias=1.0):
    """`generator` with an end token it samples often enough that sequences end at every length."""
    generator.end_token = end
    with torch.no_grad():
        generator.out.bias[end] += bias
    return generator


def with_garbage_after_end(tokens: torch.Tensor, vocab: int, seed: int = 0) -> torch.Tensor:
    """tokens [B, T] with every position after the first end token replaced by a random token."""
    noise = torch.randint(0, vocab, tokens.shape, generator=torch.Generator().manual_seed(seed))
    return torch.where(past_end(tokens, END), noise, tokens)


def ended_early(tokens: torch.Tensor) -> torch.Tensor:
    return past_end(tokens, END).any(dim=1)  # [B]


# -- config ------------------------------------------------------------------------------------------
@pytest.mark.unit
def test_end_token_is_checked_and_refused_with_the_oracle():
    assert load_config(SMOKE).model.end_token is None
    assert load_config(SMOKE, ["model.end_token=59", *CORPUS]).model.end_token == 59
    for bad in (-1, 60):
        with pytest.raises(ConfigError, match=rf"model.end_token must be null or in \[0, 60\), got {bad}"):
            load_config(SMOKE, [f"model.end_token={bad}", *CORPUS])
    with pytest.raises(ConfigError, match="model.end_token .* an oracle is fixed-length"):
        load_config(SMOKE, ["model.end_token=3"])
    with pytest.raises(ConfigError, match="model.end_token .* an oracle is fixed-length"):  # its samples in a file
        load_config(SMOKE, ["model.end_token=3", *CORPUS, "data.oracle=oracle.sgw"])
    with pytest.raises(ConfigError, match="model.end_token: expected int"):
        load_config(SMOKE, ["model.end_token=true", *CORPUS])


# -- masks -------------------------------------------------------------------------------------------
@pytest.mark.unit
def test_past_end_marks_what_follows_the_first_end_token():
    tokens = torch.tensor([[1, 2, 3, 2], [2, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 2]])
    assert past_end(tokens, None) is None and pad_after_end(tokens, None) is tokens
    assert past_end(tokens, END).int().tolist() == [[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert pad_after_end(tokens, END).tolist() == [[1, 2, 2, 2], [2, 2, 2, 2], [1, 1, 1, 1], [1, 1, 1, 2]]
    assert tokens[0].tolist() == [1, 2, 3, 2]  # not changed in place
    values = torch.arange(16.0).view(4, 4)
    assert kept_mean(values, None) == values.mean()
    assert kept_mean(values, past_end(tokens, END)) == (0 + 1 + 4 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15) / 11


# -- sampling ----------------------------------------------------------------------------------------
@pytest.mark.unit
def test_sampling_pads_after_the_end_token_and_consumes_the_same_draws(tiny_models):
    generator, _ = tiny_models
    draws = uniforms(1, (200, 6))
    generator = ending(generator)
    padded = generator.sample(draws)
    generator.end_token = None
    fixed = generator.sample(draws)  # same weights, same draws, fixed length
    assert torch.equal(padded, pad_after_end(fixed, END))  # tokens before the end are the draws' own
    early = ended_early(fixed)
    assert early.any() and not early.all(), "degenerate toy: no sequence (or every one) ends early"
    assert not torch.equal(padded, fixed)


@pytest.mark.unit
def test_workers_build_models_with_the_end_token_and_sample_padded(smoke_config):
    smoke_config.model.end_token = END
    worker = RolloutWorker(smoke_config, method_for(smoke_config))
    assert all(worker.held.models[n].end_token == END for n in ("generator", "rollout"))
    learner = Learner(smoke_config)
    with torch.no_grad():
        learner.generator.out.bias[END] += 3.0  # ends early often (V=60)
    worker.set_weights(learner.pack("generator"))
    tokens = worker.run(SampleUnit(0, 256, 7)).value  # [256, T]: what D gets as negatives
    assert ended_early(tokens).any()
    assert torch.equal(tokens, pad_after_end(tokens, END))  # padded exactly as real data must be


# -- rewards -----------------------------------------------------------------------------------------
def end_rewards(engine, generator, disc, samples, units, rollouts):
    sums = [engine(generator, disc, samples, unit) for unit in units]
    return assemble_rewards(units, sums, disc.real_prob(samples), samples.shape[1], rollouts,
                            past_end(samples, END))


@pytest.mark.unit
def test_fast_equals_reference_with_an_end_token(tiny_models):
    generator, disc = tiny_models
    generator = ending(generator)
    samples = generator.sample(uniforms(1, (8, 6)))
    assert ended_early(samples).any() and not ended_early(samples).all()
    units = all_units(8, 6, 4)
    got = end_rewards(fast(), generator, disc, samples, units, 4)
    want = end_rewards(reference_unit_reward_sums, generator, disc, samples, units, 4)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    ended = past_end(samples, END)
    assert (got[ended] == 0).all()
    # A prefix that holds the end token has one completion (the padded sample): Q = D(Y) exactly there.
    last = (~ended).sum(1) - 1  # [B] column of the first end token (or T-1)
    final = disc.real_prob(samples).float()
    torch.testing.assert_close(got[torch.arange(8), last], final, rtol=0, atol=1e-6)
    # Chunking cannot change them either (a completion's draws do not depend on the cut).
    torch.testing.assert_close(end_rewards(fast(1), generator, disc, samples, units, 4), got, rtol=0, atol=1e-12)


@pytest.mark.unit
def test_the_engines_pad_unpadded_samples_alike(tiny_models):
    """Samples with garbage after their end token give the rewards of the padded samples."""
    generator, disc = tiny_models
    generator = ending(generator)
    samples = generator.sample(uniforms(2, (6, 6)))
    garbage = with_garbage_after_end(samples, generator.vocab_size)
    assert not torch.equal(garbage, samples)
    units = all_units(6, 6, 3)
    for engine in (fast(), reference_unit_reward_sums):
        torch.testing.assert_close([engine(generator, disc, garbage, u) for u in units],
                                   [engine(generator, disc, samples, u) for u in units], rtol=0, atol=1e-12)


@pytest.mark.unit
def test_assembled_rewards_are_zero_past_the_end_and_unchanged_without_one():
    batch, seq_len, rollouts = 3, 5, 2
    units = split_rewards(batch, seq_len, rollouts, 2, 2, 1, 0, 0)
    sums = [torch.full((u.num_samples, len(u.prefixes)), 0.5 * u.num_rollouts, dtype=torch.float64) for u in units]
    final = torch.tensor([0.9, 0.8, 0.7])
    tokens = torch.tensor([[1, END, 1, 1, 1], [1, 1, 1, 1, 1], [END, 3, 3, 3, 3]])
    plain = assemble_rewards(units, sums, final, seq_len, rollouts)
    assert torch.equal(assemble_rewards(units, sums, final, seq_len, rollouts, past_end(tokens, None)), plain)
    masked = assemble_rewards(units, sums, final, seq_len, rollouts, past_end(tokens, END))
    # At the end token: the sample's own score (its prefix was not completed); past it: 0.
    assert masked[0].tolist() == pytest.approx([0.5, 0.9, 0, 0, 0]) and masked[2].tolist() == pytest.approx([0.7, 0, 0, 0, 0])
    assert torch.equal(masked[1], plain[1])


# -- losses and NLL --------------------------------------------------------------------------------
def corpus(count: int, seq_len: int, vocab: int, seed: int = 0) -> torch.Tensor:
    """Random sentences of random lengths 1..T (the end token included), padded with the end token."""
    draw = torch.Generator().manual_seed(seed)
    tokens = torch.randint(END + 1, vocab, (count, seq_len), generator=draw)
    lengths = torch.randint(1, seq_len + 1, (count,), generator=draw)
    ends = torch.arange(seq_len) >= (lengths - 1).unsqueeze(1)  # [N, T]
    return tokens.masked_fill(ends, END)


@pytest.mark.unit
def test_mle_ignores_tokens_after_the_end(smoke_config):
    smoke_config.model.end_token = END
    t, v = smoke_config.model.seq_len, smoke_config.model.vocab_size
    padded = corpus(64, t, v)
    garbage = with_garbage_after_end(padded, v)
    assert past_end(padded, END).any() and not torch.equal(padded, garbage)
    runs = []
    for data in (padded, garbage):
        learner = Learner(smoke_config)
        learner.load_real_data(data, data)
        runs.append((learner.mle_epoch(0), learner.nll_test(), [p.detach() for p in learner.generator.parameters()]))
    (loss_a, nll_a, weights_a), (loss_b, nll_b, weights_b) = runs
    assert loss_a == loss_b and nll_a == nll_b
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b))


@pytest.mark.unit
def test_mle_loss_is_the_mean_over_the_tokens_kept(tiny_models):
    generator, _ = tiny_models
    tokens = corpus(16, 6, generator.vocab_size, seed=1)
    logits = generator(tokens)  # [B, T, V]
    kept = ~past_end(tokens, END)
    nll = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")  # [B, T]
    torch.testing.assert_close(mle_loss(generator.kept_logits(tokens, kept), tokens, kept), nll[kept].mean())
    assert kept.sum() < tokens.numel()  # some tokens were left out
    # The NLL metric: the same per-token mean, only when asked to mask.
    want = -generator.log_probs(tokens)[kept].sum().item() / kept.sum().item()
    assert nll_per_token(generator, tokens, end_token=END) == pytest.approx(want, rel=1e-12)
    assert nll_per_token(generator, tokens) == pytest.approx(nll.mean().item(), rel=1e-12)


@pytest.mark.unit
def test_pg_ignores_tokens_and_rewards_after_the_end(smoke_config):
    smoke_config.model.end_token = END
    t, v = smoke_config.model.seq_len, smoke_config.model.vocab_size
    samples = corpus(32, t, v, seed=2)
    rewards = torch.rand(samples.shape, generator=torch.Generator().manual_seed(3))  # non-zero past the end too
    runs = []
    for tokens in (samples, with_garbage_after_end(samples, v)):
        learner = Learner(smoke_config)
        runs.append((learner.pg_step(tokens, rewards), [p.detach() for p in learner.generator.parameters()]))
    (loss_a, weights_a), (loss_b, weights_b) = runs
    assert loss_a == loss_b and all(torch.equal(a, b) for a, b in zip(weights_a, weights_b))
    log_probs = torch.log(torch.rand(samples.shape, generator=torch.Generator().manual_seed(4)))
    ended = past_end(samples, END)
    assert torch.equal(policy_gradient_loss(log_probs, rewards, ended),
                       policy_gradient_loss(log_probs, rewards.masked_fill(ended, 0.0), ended))


# -- end_token None: the old arithmetic, bit for bit ------------------------------------------------
@pytest.mark.unit
def test_without_an_end_token_the_losses_are_the_old_ones(tiny_models):
    generator, _ = tiny_models
    tokens = corpus(16, 6, generator.vocab_size, seed=5)  # holds end tokens: None must ignore them
    logits = generator(tokens)
    old_mle = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))
    assert torch.equal(mle_loss(logits, tokens, past_end(tokens, None)), old_mle)
    log_probs = generator.log_probs(tokens)
    rewards = torch.rand(tokens.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    assert torch.equal(policy_gradient_loss(log_probs, rewards, None), -(log_probs * rewards).sum())
    old_nll = -generator.log_probs(tokens).double().sum().item() / tokens.numel()
    assert nll_per_token(generator, tokens) == old_nll


# -- real data ---------------------------------------------------------------------------------------
@pytest.mark.unit
def test_real_data_must_be_padded_with_the_end_token(tmp_path):
    good = corpus(40, 10, 60, seed=7)
    bad = good.clone()
    row = int(past_end(good, END).any(1).nonzero()[0])
    column = int(past_end(good, END)[row].nonzero()[0])
    bad[row, column] = 5
    for name, tokens in (("good.txt", good), ("bad.txt", bad)):
        (tmp_path / name).write_text("\n".join(" ".join(map(str, r)) for r in tokens.tolist()) + "\n")
    files = ["data.batch_size=32", "data.num_train=32", f"data.test_file={tmp_path / 'good.txt'}"]
    config = load_config(SMOKE, [f"data.train_file={tmp_path / 'good.txt'}", *files, f"model.end_token={END}"])
    train, _, oracle = real_data(config)
    assert torch.equal(train, good) and oracle is None
    config = load_config(SMOKE, [f"data.train_file={tmp_path / 'bad.txt'}", *files, f"model.end_token={END}"])
    with pytest.raises(BadFileError, match=rf"bad.txt'.*sequence {row + 1} .*token 5 at position {column + 1}"):
        real_data(config)
    config = load_config(SMOKE, [f"data.train_file={tmp_path / 'bad.txt'}", *files])  # fixed length: any tokens
    assert torch.equal(real_data(config)[0], bad)
