"""Text runs pay only for the text: rollouts skip prefixes that hold the end token, completions and
samples stop at it, MLE and NLL work on the kept positions only; the results are those of doing all
the work (bit for bit where only work is skipped)."""
import pytest
import torch
import torch.nn.functional as F

from learner.bench.text_work import skipped_shares, work_counts
from learner.learner import mle_loss
from rewards.bleu.reward import BleuRewardScorer, reference_table
from rewards.reference import reference_unit_reward_sums
from rewards.rollout import unit_reward_sums
from rewards.units import RewardUnit, assemble_rewards
from seqgan.endings import pad_after_end, past_end
from seqgan.metrics import nll_per_token
from seqgan.models import Discriminator, Generator
from seqgan.seeding import uniforms
from test_rollout import all_units, cut

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]
END, T, B, N = 2, 7, 6, 4


def models(end_bias: float = 1.0):
    """Float64 G and D; G draws the end token often (`end_bias` on its logit), so completions end."""
    torch.manual_seed(0)
    generator = Generator(7, 5, 6, T, end_token=END).init_normal_(0.7).double().eval()
    with torch.no_grad():
        generator.out.bias[END] += end_bias
    disc = Discriminator(7, 4, [1, 2, 3], [3, 4, 3], 0.0).init_paper_().double().eval()
    return generator, disc


def batch(ends: list[int], seed: int = 0) -> torch.Tensor:
    """B sequences of tokens 3..6, sample b's end token at column ends[b] (T: none), padded."""
    tokens = torch.randint(3, 7, (B, T), generator=torch.Generator().manual_seed(seed))
    for row, column in enumerate(ends):
        if column < T:
            tokens[row, column] = END
    return pad_after_end(tokens, END)


BATCHES = {"all_at_once": [3] * B, "none_ending": [T] * B, "first_position": [0, 0, 0, 0, 4, T],
           "mixed": [0, 1, 2, 4, 6, T]}


def whole_batch_units(split: bool) -> list[RewardUnit]:
    """Units of 2 samples x 2 prefixes x 3 rollouts (their edges exercised), or one unit (fewer calls)."""
    return all_units(B, T, N) if split else [RewardUnit(0, 0, B, 1, T, 0, N, run_seed=3, iteration=0)]


def engine_rewards(generator, scorer, final, samples, dense: bool, units, chunk: int = 10_000):
    sums = [unit_reward_sums(generator, scorer, samples, unit, cut(chunk, T), dense) for unit in units]
    return sums, assemble_rewards(units, sums, final, T, N, past_end(samples, END))


def at_end(samples: torch.Tensor) -> torch.Tensor:
    """[B, T] bool: each sample's first end token (T-1 without one)."""
    marks = torch.zeros(samples.shape, dtype=torch.bool)
    marks[torch.arange(len(samples)), (~past_end(samples, END)).sum(1) - 1] = True
    return marks


@pytest.mark.parametrize("name", list(BATCHES))
def test_skipping_gives_the_rewards_of_doing_all_the_work(name):
    generator, disc = models()
    samples = batch(BATCHES[name])
    final = disc.real_prob(samples)
    thorough = name == "mixed"  # unit edges, the reference engine and the chunk budget: once (slow)
    units = whole_batch_units(split=thorough)
    dense_sums, dense = engine_rewards(generator, disc, final, samples, True, units)
    fast_sums, fast = engine_rewards(generator, disc, final, samples, False, units)
    live_to = torch.tensor(BATCHES[name]).clamp(max=T - 1)  # the longest prefix without the end token
    for unit, d, f in zip(units, dense_sums, fast_sums):
        live = torch.tensor(list(unit.prefixes))[None, :] <= live_to[unit.sample_start:unit.sample_stop, None]
        assert torch.equal(f[live], d[live]) and (f[~live] == 0).all()
    own = at_end(samples)
    assert torch.equal(fast[~own], dense[~own])  # bit for bit where work was only skipped
    torch.testing.assert_close(fast, dense, rtol=0, atol=1e-6)  # at the end token: D(Y) itself
    if not thorough:
        return
    reference = assemble_rewards(units, [reference_unit_reward_sums(generator, disc, samples, u) for u in units],
                                 final, T, N, past_end(samples, END))
    torch.testing.assert_close(fast, reference, rtol=0, atol=1e-6)
    # The chunk budget (down to one pair at a time) cuts the live pairs differently: same rewards.
    assert torch.equal(engine_rewards(generator, disc, final, samples, False, units, chunk=1)[1], fast)


def test_a_unit_without_live_pairs_costs_nothing(monkeypatch):
    generator, disc = models()
    samples = batch([0, 1, 2, 2, 1, 0])
    unit = RewardUnit(0, 0, B, 3, T, 0, N, run_seed=1, iteration=0)  # prefixes 3.. all hold the end token
    monkeypatch.setattr(Generator, "prefix_states", lambda *a: pytest.fail("worked on a unit with no live pair"))
    assert (unit_reward_sums(generator, disc, samples, unit, cut(10_000, T)) == 0).all()


def test_pg_bleu_rewards_with_skipping_equal_the_dense_and_reference_ones():
    generator, _ = models()
    references = batch([2, 3, 4, 5, 6, T], seed=5)
    scorer = BleuRewardScorer(reference_table(references, 2, END), END)
    samples = batch(BATCHES["mixed"], seed=1)
    final = scorer.score_sequences(samples)
    units = whole_batch_units(split=False)
    _, dense = engine_rewards(generator, scorer, final, samples, True, units)
    _, fast = engine_rewards(generator, scorer, final, samples, False, units)
    assert torch.equal(fast, dense)  # BLEU of the padded sample is the sentence's own: exact everywhere
    reference = assemble_rewards(units, [reference_unit_reward_sums(generator, scorer, samples, u) for u in units],
                                 final, T, N, past_end(samples, END))
    assert torch.equal(fast, reference)
    assert (fast[~past_end(samples, END)] > 0).any()


def test_stopped_sampling_draws_the_same_tokens_with_fewer_steps():
    torch.manual_seed(1)
    generator = Generator(9, 5, 6, 20, end_token=END).init_normal_(0.7).eval()
    with torch.no_grad():
        generator.out.bias[END] += 1.5
    draws = uniforms(3, (200, 20))
    steps = []
    advance = generator.advance
    generator.advance = lambda inputs, state: steps.append(len(inputs)) or advance(inputs, state)
    stopped = generator.sample(draws)
    stopped_steps, steps[:] = sum(steps), []
    generator.end_token = None  # every row stepped to T, padded afterwards
    every = pad_after_end(generator.sample(draws), END)
    assert torch.equal(stopped, every)
    ends = (~past_end(stopped, END)).sum(1)  # [U] kept positions, the end token included
    assert 0 < ends.float().mean() < 18
    assert stopped_steps == ends.sum() < 0.6 * sum(steps)  # a row steps once per position it keeps


def test_the_bench_times_both_sampling_rounds_on_the_same_draws():
    """bench rollout --config's sampling round: the dense copy (every row to T) and the generator itself
    give the tokens `seqgan sample --seed 0` gives, and the generator itself keeps its end token."""
    from learner.bench.text import timed_sampling
    from seqgan.seeding import sample_draws

    torch.manual_seed(1)
    generator = Generator(9, 5, 6, 20, end_token=END).init_normal_(0.7).eval()
    with torch.no_grad():
        generator.out.bias[END] += 1.5
    calls = []

    def once(function, repeats):
        calls.append(repeats)
        function()
        return 1.0

    _, dense = timed_sampling(generator, 300, True, once, 2)
    _, fast = timed_sampling(generator, 300, False, once, 2)
    want = torch.cat([generator.sample(u) for u in sample_draws(0, 300, 20)])
    assert torch.equal(dense, want) and torch.equal(fast, want) and calls == [2, 2]
    assert generator.end_token == END and past_end(want, END).any()


def variable_length_corpus(count: int, seq_len: int, vocab: int) -> torch.Tensor:
    draw = torch.Generator().manual_seed(4)
    tokens = torch.randint(END + 1, vocab, (count, seq_len), generator=draw)
    lengths = torch.randint(1, seq_len, (count,), generator=draw)  # none as long as T: the LSTM stops early
    return tokens.masked_fill(torch.arange(seq_len) >= (lengths - 1).unsqueeze(1), END)


def test_mle_loss_and_gradients_on_kept_positions_equal_the_dense_ones():
    torch.manual_seed(2)
    generator = Generator(50, 8, 16, 12, end_token=END).init_normal_(0.1)
    tokens = variable_length_corpus(32, 12, 50)
    kept = ~past_end(tokens, END)
    assert kept.sum(1).max() < 12 and kept.float().mean() < 0.7
    dense_logits = generator(tokens)  # [B, T, V]: every position, the padding ignored by the target
    dense = F.cross_entropy(dense_logits.flatten(0, 1), tokens.masked_fill(~kept, -100).flatten())
    dense_grads = torch.autograd.grad(dense, list(generator.parameters()))
    live = mle_loss(generator.kept_logits(tokens, kept), tokens, kept)
    live_grads = torch.autograd.grad(live, list(generator.parameters()))
    torch.testing.assert_close(live, dense, rtol=1e-6, atol=0)
    for got, want in zip(live_grads, dense_grads):  # relative to each gradient's size (sums reorder)
        assert (got - want).norm() <= 1e-6 * want.norm()
    masked = -generator.log_probs(tokens).double().masked_fill(~kept, 0).sum().item() / kept.sum().item()
    assert nll_per_token(generator, tokens, end_token=END) == pytest.approx(masked, rel=1e-6)


def test_the_share_skipped_matches_a_direct_count():
    """A G that never draws the end token: completions run to T, so the work is countable by hand."""
    generator, disc = models(end_bias=-1e9)
    ends = [0, 1, 3, 6, T, T]
    samples = batch(ends)
    unit = RewardUnit(0, 0, B, 1, T, 0, N, run_seed=1, iteration=0)  # the whole batch, every prefix
    live_to = [min(e, T - 1) for e in ends]  # live prefixes 1..live_to
    completion_steps = {t: N * (T - t) for t in range(1, T)}  # prefix t: positions t..T-1, N rollouts
    dense = {"completions": B * (T - 1) * N, "lstm_steps": B * (T - 1) + B * sum(completion_steps.values())}
    fast = {"completions": N * sum(live_to),
            "lstm_steps": B * max(live_to) + sum(completion_steps[t] for m in live_to for t in range(1, m + 1))}
    sizes = cut(10_000, T)
    counted_dense, _ = work_counts(generator, disc, samples, [unit], sizes, dense=True)
    counted_fast, _ = work_counts(generator, disc, samples, [unit], sizes, dense=False)
    assert (counted_dense, counted_fast) == (dense, fast)
    assert skipped_shares(counted_fast, counted_dense) == {
        f"{key}_skipped": round(1 - fast[key] / dense[key], 4) for key in dense}
