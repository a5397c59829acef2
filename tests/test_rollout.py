"""The batched rollout engine against the reference engine and against exact enumeration."""
import itertools

import pytest
import torch

from rewards.reference import reference_unit_reward_sums
from rewards.rollout import unit_reward_sums
from rewards.units import RewardUnit, assemble_rewards, split_rewards
from seqgan.seeding import uniforms
from seqgan.sizing import ResolvedUnits


def all_units(batch, seq_len, rollouts, seed=3, iteration=0, unit_samples=2, unit_prefixes=2, unit_rollouts=3):
    return split_rewards(batch, seq_len, rollouts, unit_samples, unit_prefixes, unit_rollouts, seed, iteration)


def rewards_with(engine, generator, disc, samples, units, rollouts):
    sums = [engine(generator, disc, samples, unit) for unit in units]
    return assemble_rewards(units, sums, disc.real_prob(samples), samples.shape[1], rollouts)


def cut(chunk_tokens, seq_len, piece_samples=10**6, sample_rows=128):
    """Engine sizes: `chunk_tokens` completion tokens alive, D calls of that many tokens."""
    return ResolvedUnits(0, 0, 0, chunk_tokens, piece_samples, max(1, chunk_tokens // seq_len), sample_rows)


def fast(chunk_tokens=10_000):
    return lambda g, d, s, u: unit_reward_sums(g, d, s, u, cut(chunk_tokens, s.shape[1]))


@pytest.mark.unit
def test_units_cover_every_sample_prefix_and_rollout_once():
    units = all_units(batch=5, seq_len=6, rollouts=7)
    seen = torch.zeros(5, 6, 7, dtype=torch.long)
    for u in units:
        seen[u.sample_start:u.sample_stop, u.prefix_start:u.prefix_stop, u.rollout_start:u.rollout_stop] += 1
    assert (seen[:, 1:] == 1).all() and (seen[:, 0] == 0).all()  # prefixes 1..T-1
    assert [u.index for u in units] == list(range(len(units)))


@pytest.mark.unit
def test_fast_equals_reference_under_the_same_draws(tiny_models):
    generator, disc = tiny_models
    samples = generator.sample(uniforms(1, (5, 6)))
    units = all_units(5, 6, 4)
    got = rewards_with(fast(), generator, disc, samples, units, 4)
    want = rewards_with(reference_unit_reward_sums, generator, disc, samples, units, 4)
    assert got.shape == (5, 6)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.unit
@pytest.mark.parametrize("chunk_tokens", [1, 6 * 4, 1_000_000])
def test_chunking_does_not_change_rewards(tiny_models, chunk_tokens):
    generator, disc = tiny_models
    samples = generator.sample(uniforms(2, (4, 6)))
    units = all_units(4, 6, 3, unit_samples=4, unit_prefixes=5, unit_rollouts=3)
    base = rewards_with(fast(10_000), generator, disc, samples, units, 3)
    torch.testing.assert_close(rewards_with(fast(chunk_tokens), generator, disc, samples, units, 3), base,
                               rtol=0, atol=1e-12)


@pytest.mark.unit
def test_unit_shape_does_not_change_the_reward_mean(tiny_models):
    """Different unit layouts use different draws, but estimate the same rewards."""
    generator, disc = tiny_models
    samples = generator.sample(uniforms(3, (2, 6)))
    a = rewards_with(fast(), generator, disc, samples, all_units(2, 6, 400, unit_rollouts=400), 400)
    b = rewards_with(fast(), generator, disc, samples, all_units(2, 6, 400, seed=9, unit_rollouts=37), 400)
    assert (a - b).abs().max() < 0.08


def exact_rewards(generator, disc, samples):
    """Q by enumerating every completion: sum_c P(c | prefix) D(prefix + c)."""
    batch, seq_len = samples.shape
    vocab = generator.vocab_size
    q = torch.zeros(batch, seq_len, dtype=torch.float64)
    q[:, -1] = disc.real_prob(samples)
    for t in range(1, seq_len):
        tails = torch.tensor(list(itertools.product(range(vocab), repeat=seq_len - t)))  # [C, T-t]
        for b in range(batch):
            full = torch.cat([samples[b, :t].expand(len(tails), t), tails], dim=1)  # [C, T]
            logp = generator.log_probs(full)[:, t:].sum(-1)  # log P(completion | prefix)
            q[b, t - 1] = (logp.exp() * disc.real_prob(full)).sum()
    return q


@pytest.mark.unit
@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_rewards_match_exact_expectation(engine, tiny_models):
    torch.manual_seed(1)
    from seqgan.models import Discriminator, Generator
    generator = Generator(3, 4, 5, 4).init_normal_(1.0).double().eval()
    disc = Discriminator(3, 4, [1, 2], [4, 4], 0.0).init_paper_().double().eval()
    with torch.no_grad():
        disc.out.weight.mul_(20)  # spread D's scores so wrong rewards would show
    samples = generator.sample(uniforms(4, (2, 4)))
    rollouts = 3000
    units = all_units(2, 4, rollouts, unit_samples=2, unit_prefixes=3, unit_rollouts=rollouts)
    run = fast() if engine == "fast" else reference_unit_reward_sums
    got = rewards_with(run, generator, disc, samples, units, rollouts).double()
    want = exact_rewards(generator, disc, samples)
    assert (want[:, :-1].max() - want[:, :-1].min()) > 0.05, "degenerate toy: D scores too flat"
    # Monte Carlo error of a mean of 3000 values in [0, 1]: sd <= 0.5 / sqrt(3000) ~ 0.009.
    torch.testing.assert_close(got, want, rtol=0, atol=0.04)


@pytest.mark.unit
def test_rewards_are_laid_out_per_sample(tiny_models):
    """Row b of the rewards belongs to sample b: permuting the batch permutes the rows."""
    generator, disc = tiny_models
    with torch.no_grad():
        disc.out.weight.mul_(60)  # spread D's scores: rows of different samples must differ clearly
    samples = generator.sample(uniforms(5, (4, 6)))
    rollouts = 1000
    units = all_units(4, 6, rollouts, unit_samples=1, unit_prefixes=5, unit_rollouts=rollouts)
    base = rewards_with(fast(), generator, disc, samples, units, rollouts)
    perm = torch.tensor([2, 0, 3, 1])
    permuted = rewards_with(fast(), generator, disc, samples[perm], units, rollouts)
    assert (base - base[perm]).abs().max() > 0.3, "degenerate toy: the samples' rewards are alike"
    # unit_samples=1: each row's draws come from its own units, so rows move with their sample
    # only in distribution (Monte Carlo sd of a difference <= 0.022 here); D(Y) moves exactly.
    torch.testing.assert_close(permuted[:, -1], base[perm, -1])
    assert (permuted - base[perm]).abs().max() < 0.1


@pytest.mark.unit
def test_assembled_rewards_put_every_sum_at_its_sample_and_prefix():
    """Hand-made sums: unit sums for (sample b, prefix t) are (100 b + t) x its rollouts, so the
    rewards must read exactly 100 b + t at [b, t-1], and D(Y) in the last column."""
    batch, seq_len, rollouts = 5, 6, 7
    units = all_units(batch, seq_len, rollouts, unit_samples=2, unit_prefixes=2, unit_rollouts=3)
    sums = [torch.tensor([[(100.0 * b + t) * u.num_rollouts for t in u.prefixes]
                          for b in range(u.sample_start, u.sample_stop)], dtype=torch.float64) for u in units]
    final = torch.arange(batch) / 10.0
    rewards = assemble_rewards(units, sums, final, seq_len, rollouts)
    want = torch.tensor([[100.0 * b + t for t in range(1, seq_len)] + [b / 10.0] for b in range(batch)])
    assert rewards.shape == (batch, seq_len)
    torch.testing.assert_close(rewards, want, rtol=0, atol=1e-4)


@pytest.mark.unit
def test_completions_keep_their_prefix(tiny_models):
    from rewards.rollout import complete_prefixes
    generator, _ = tiny_models
    samples = generator.sample(uniforms(6, (3, 6)))
    states = generator.prefix_states(samples)
    prefixes = [1, 3, 5]
    pair_prefix, pair_sample = [t for t in prefixes for _ in range(3)], torch.arange(3).repeat(3)
    draws = uniforms(7, (9, 2, 6))  # [P*b, n, T]
    completions = complete_prefixes(generator, samples, states, pair_sample, pair_prefix, draws, 128).view(3, 3, 2, 6)
    for p, t in enumerate(prefixes):
        assert (completions[p, :, :, :t] == samples[:, None, :t]).all()
    assert not (completions[0] == samples[:, None]).all(), "completions were not sampled"


@pytest.mark.unit
def test_long_sequences_in_a_small_chunk_budget():
    """T=200: a chunk budget of 20 prefix groups at a time gives the same rewards as no budget."""
    from seqgan.models import Discriminator, Generator
    torch.manual_seed(2)
    generator = Generator(20, 4, 8, 200).init_normal_(0.5).double().eval()
    disc = Discriminator(20, 4, [1, 3, 7], [3, 3, 3], 0.0).init_paper_().double().eval()
    samples = generator.sample(uniforms(8, (2, 200)))
    unit = RewardUnit(0, 0, 2, 1, 200, 0, 2, run_seed=1, iteration=0)
    small = unit_reward_sums(generator, disc, samples, unit, cut(20 * 2 * 2 * 200, 200))  # 20 prefixes per chunk
    large = unit_reward_sums(generator, disc, samples, unit, cut(10**9, 200))
    assert small.shape == (2, 199)
    torch.testing.assert_close(small, large, rtol=0, atol=1e-12)


@pytest.mark.unit
@pytest.mark.parametrize("chunk_tokens", [3 * 4 * 30, 4 * 30])  # three samples' rollouts, then one
def test_chunk_tokens_bounds_the_completions_alive_and_each_d_call(monkeypatch, chunk_tokens):
    """Live (sample, prefix) pairs are taken as many as fit: completions alive at once and the rows
    of each D call stay within `chunk_tokens`, and the rewards do not change."""
    import rewards.rollout as rollout
    from rewards.scoring import DiscriminatorScorer
    from seqgan.models import Discriminator, Generator
    torch.manual_seed(3)
    generator = Generator(20, 4, 8, 30).init_normal_(0.5).double().eval()
    disc = Discriminator(20, 4, [1, 3, 7], [3, 3, 3], 0.0).init_paper_().double().eval()
    samples = generator.sample(uniforms(8, (8, 30)))
    unit = RewardUnit(0, 0, 8, 1, 30, 0, 4, run_seed=1, iteration=0)  # a prefix group: 8 x 4 x 30 tokens
    alive, scored = [], []
    complete, score = rollout.complete_prefixes, DiscriminatorScorer.score
    monkeypatch.setattr(rollout, "complete_prefixes", lambda *a: alive.append(complete(*a).numel()) or complete(*a))
    monkeypatch.setattr(DiscriminatorScorer, "score", lambda d, c, *a: scored.append(c.numel()) or score(d, c, *a))
    bounded = unit_reward_sums(generator, disc, samples, unit, cut(chunk_tokens, 30))
    assert max(alive) <= chunk_tokens and max(scored) <= chunk_tokens
    assert len(alive) == -(-8 * 29 // (chunk_tokens // (4 * 30)))  # every pair (none ends), as many as fit
    monkeypatch.undo()
    torch.testing.assert_close(bounded, unit_reward_sums(generator, disc, samples, unit, cut(10**9, 30)),
                               rtol=0, atol=1e-12)


@pytest.mark.unit
def test_conv_flops_match_a_direct_count_of_both_engines(tiny_models):
    """conv_flops against the windows each engine's convolutions actually output."""
    from rewards.scoring import conv_flops
    generator, disc = tiny_models  # D: embedding 4, filter sizes [1, 2, 3] with [3, 4, 3] filters, T=6
    samples = generator.sample(uniforms(9, (2, 6)))
    unit = RewardUnit(0, 0, 2, 1, 6, 0, 3, run_seed=1, iteration=0)  # the whole batch, 3 rollouts
    counted = []

    def count(conv, inputs, output):  # 2 FLOPs per multiply-add, per output window and filter
        windows = output.shape[0] * output.shape[2]
        counted.append(2 * conv.in_channels * conv.kernel_size[0] * conv.out_channels * windows)

    hooks = [conv.register_forward_hook(count) for conv in disc.convs]
    unit_reward_sums(generator, disc, samples, unit, cut(10**6, 6))
    fast, counted[:] = sum(counted), []
    reference_unit_reward_sums(generator, disc, samples, unit)
    reference = sum(counted)
    for hook in hooks:
        hook.remove()
    shared, every = conv_flops(6, 3, 4, [1, 2, 3], [3, 4, 3])
    assert (fast, reference) == (2 * shared, 2 * every)  # two samples
    assert fast < reference


@pytest.mark.unit
def test_every_reward_unit_draws_its_own_stream(tiny_models):
    """Units of one batch that cover other sample slices, prefixes or rollouts draw other uniforms, so
    their rewards are independent (not merely unbiased): one seed per unit. Units of the same shape
    must not repeat each other's draws, and equal samples in two slices get different rewards."""
    generator, disc = tiny_models
    units = all_units(4, 6, 6, unit_samples=2, unit_prefixes=5, unit_rollouts=3)  # 2 slices x 2 rollout spans
    by_shape = {}
    for unit in units:
        by_shape.setdefault((unit.num_samples, unit.num_rollouts, unit.prefix_start), []).append(unit)
    pairs = [(a, b) for group in by_shape.values() for a, b in itertools.combinations(group, 2)]
    assert pairs, "the batch must hold units of the same shape"
    for a, b in pairs:
        assert not torch.equal(a.draws(a.prefix_start, 6), b.draws(b.prefix_start, 6)), (a, b)
    row = generator.sample(uniforms(5, (1, 6)))
    samples = row.repeat(4, 1)  # the same sample in both slices
    rewards = rewards_with(fast(), generator, disc, samples, units, 6)
    assert not torch.equal(rewards[0, :-1], rewards[2, :-1])  # slices 0-1 and 2-3: other streams
