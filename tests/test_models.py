import math

import pytest
import torch

from seqgan.models import Discriminator, Generator, sample_tokens
from seqgan.seeding import uniforms


@pytest.mark.unit
def test_generator_shapes_and_normalised_log_probs(tiny_models):
    generator, _ = tiny_models
    tokens = generator.sample(uniforms(0, (5, 6)))
    assert tokens.shape == (5, 6) and tokens.dtype == torch.long
    assert tokens.min() >= 0 and tokens.max() < generator.vocab_size
    assert generator(tokens).shape == (5, 6, 7)
    log_probs = generator.log_probs(tokens)
    assert log_probs.shape == (5, 6) and (log_probs <= 0).all()
    # All sequences of length 2 of a V=3 generator: probabilities sum to 1.
    small = Generator(3, 4, 4, 2).init_normal_(1.0).double()
    every = torch.tensor([[a, b] for a in range(3) for b in range(3)])
    assert math.isclose(small.log_probs(every).sum(-1).exp().sum().item(), 1.0, rel_tol=1e-9)


@pytest.mark.unit
def test_stepping_matches_the_fused_lstm(tiny_models):
    """`advance` (rollouts) and nn.LSTM (training) are the same network."""
    generator, _ = tiny_models
    tokens = generator.sample(uniforms(1, (4, 6)))
    teacher = generator(tokens)  # [B, T, V]
    state = generator.initial_state(4)
    inputs = generator.inputs_for(tokens)
    for t in range(6):
        state = generator.advance(inputs[:, t], state)
        torch.testing.assert_close(generator.out(state[0]), teacher[:, t])
    h, c = generator.prefix_states(tokens)
    assert h.shape == c.shape == (4, 5, 6)


@pytest.mark.unit
def test_sample_tokens_is_the_softmax_distribution():
    # Mass in two vocabulary blocks of the two-level CDF (tokens 0-3 and 70-73), none elsewhere.
    logits = torch.full((1, 134), -30.0).double()
    logits[0, [0, 1, 2, 3, 70, 71, 72, 73]] = torch.tensor([0.0, 1.0, 2.0, -1.0, 1.5, 0.5, -0.5, 2.5]).double()
    draws = uniforms(3, (200_000,))
    tokens = sample_tokens(logits.expand(len(draws), -1), draws)
    freq = torch.bincount(tokens, minlength=logits.shape[1]).double() / len(draws)
    torch.testing.assert_close(freq, torch.softmax(logits[0], -1), atol=4e-3, rtol=0)
    # Inverse CDF at the edges: u -> 0 picks the first non-zero token, u -> 1 the last.
    edge = sample_tokens(logits.expand(2, -1), torch.tensor([0.0, 1.0 - 1e-12], dtype=torch.float64))
    assert edge.tolist() == [0, 73]


@pytest.mark.unit
def test_sampling_is_row_wise():
    """A row's token does not depend on the rows sampled with it (worker-count independence)."""
    torch.manual_seed(0)
    logits, draws = torch.randn(300, 1000), uniforms(4, (300,))
    alone = torch.cat([sample_tokens(logits[i:i + 1], draws[i:i + 1]) for i in range(300)])
    assert torch.equal(sample_tokens(logits, draws), alone)


@pytest.mark.unit
def test_discriminator_shapes_dropout_and_l2():
    torch.manual_seed(0)
    disc = Discriminator(11, 6, [1, 2, 4], [3, 5, 2], dropout=0.5).init_paper_()
    tokens = torch.randint(0, 11, (8, 5))
    assert disc(tokens).shape == (8, 2)
    assert disc.features(tokens).shape == (8, 10)
    disc.eval()
    probs = disc.real_prob(tokens)
    assert probs.shape == (8,) and ((probs > 0) & (probs < 1)).all()
    assert torch.equal(probs, disc.real_prob(tokens)), "scoring must be deterministic (no dropout)"
    disc.train()
    assert not torch.equal(disc(tokens), disc(tokens)), "dropout must be active in training"
    expected = 0.5 * (disc.out.weight.square().sum() + disc.out.bias.square().sum())
    torch.testing.assert_close(disc.l2_loss(), expected)
    assert (disc.convs[0].bias == 0.1).all() and disc.embedding.weight.abs().max() <= 1.0
