"""Auto work units (seqgan/sizing.py) and the memory budget of a reward computation."""
import pytest
import torch

from memory_meter import PeakTensorBytes
from rewards.rollout import unit_reward_sums
from rewards.units import batch_reward_units
from seqgan.config_files import load_config
from seqgan.models import build_discriminator, build_generator
from seqgan.seeding import uniforms
from seqgan.sizing import resolve_units

PAPER = "deploy/configs/paper.yaml"


def units_of(sizes):
    return sizes.unit_samples, sizes.unit_prefixes, sizes.unit_rollouts


@pytest.mark.unit
def test_auto_units_depend_on_the_device_kind_not_on_workers_or_budget():
    """T=20, B=64, N=16: a CPU unit of about 2,048 completions (16 x 7 x 16: 12 units), one GPU
    unit for the whole batch; neither moves with the worker count or the budget."""
    for workers in (0, 1, 2, 8):
        for budget in (1 << 26, 1 << 30, 1 << 33):
            config = load_config(PAPER, [f"rollout.num_workers={workers}", f"rollout.memory_budget={budget}"])
            assert units_of(resolve_units(config, "cpu")) == (16, 7, 16)
            assert units_of(resolve_units(config, "cuda")) == (64, 19, 16)
    assert len(batch_reward_units(load_config(PAPER), "cpu", 64, 0)) == 12


@pytest.mark.unit
@pytest.mark.parametrize("overrides, cpu, cuda", [
    (["model.seq_len=200", "data.batch_size=16"], (16, 8, 16), (16, 199, 16)),  # 25 CPU units
    (["model.seq_len=1000"], (16, 8, 16), (64, 63, 16)),
    (["rollout.num_rollouts=256"], (1, 7, 256), (16, 10, 256)),
    (["rollout.num_rollouts=4096"], (1, 1, 2048), (1, 10, 4096)),  # rollouts first, then samples, then prefixes
])
def test_auto_units_hold_about_a_device_kinds_grain(overrides, cpu, cuda):
    config = load_config(PAPER, overrides)
    assert units_of(resolve_units(config, "cpu")) == cpu
    assert units_of(resolve_units(config, "cuda")) == cuda


@pytest.mark.unit
def test_explicit_sizes_win_and_auto_fills_the_rest():
    config = load_config(PAPER, ["rollout.unit_samples=3", "rollout.unit_rollouts=5", "rollout.chunk_tokens=777"])
    sizes = resolve_units(config, "cpu")
    assert (sizes.unit_samples, sizes.unit_rollouts, sizes.chunk_tokens) == (3, 5, 777)
    assert sizes.unit_prefixes == 19  # auto: 5 rollouts x 19 prefixes still fit 2,048 completions


def small_models(seq_len: int, budget: int):
    """float32 models small enough to run T=200 in a test; the config holds the budget."""
    config = load_config(None, [f"model.seq_len={seq_len}", "model.vocab_size=50", "generator.embed_dim=8",
                                "generator.hidden_dim=16", "discriminator.embed_dim=8",
                                "discriminator.filter_sizes=[1,3,7]", "discriminator.num_filters=[6,12,6]",
                                "data.batch_size=2", "rollout.num_rollouts=4", f"rollout.memory_budget={budget}"])
    torch.manual_seed(0)
    generator = build_generator(config.model, config.generator).init_normal_(0.5).eval()
    disc = build_discriminator(config.model, config.discriminator).init_paper_().eval()
    return config, generator, disc


@pytest.mark.unit
def test_a_long_sequence_under_a_small_budget_gives_the_same_rewards_within_it():
    """T=200: budgets of 8 MB and 2 MB cut the unit into ever more pieces (chunks of completions,
    D calls); the sums stay bit for bit those of the default budget, and every tensor the engine
    holds at once under 2 MB adds up to less than 2 MB."""
    runs = {}
    for budget in (1 << 30, 8_000_000, 2_000_000):
        config, generator, disc = small_models(200, budget)
        samples = generator.sample(uniforms(1, (2, 200)))
        (unit,) = batch_reward_units(config, "cpu", 2, 0)  # 2 samples x 199 prefixes x 4 rollouts
        sizes = resolve_units(config, "cpu")
        with PeakTensorBytes() as meter:
            runs[budget] = unit_reward_sums(generator, disc, samples, unit, sizes), sizes.chunk_tokens, meter.peak
    (whole, whole_chunk, _), (_, mid_chunk, _), (small, small_chunk, peak) = runs.values()
    assert whole_chunk == 2 * 199 * 4 * 200 and small_chunk * 4 < mid_chunk < whole_chunk  # really cut
    assert torch.equal(runs[8_000_000][0], whole) and torch.equal(small, whole)
    assert peak <= 2_000_000, peak
