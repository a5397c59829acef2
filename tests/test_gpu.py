"""GPU checks: skipped cleanly without a CUDA device (CI has none)."""
import json
import math

import pytest
import torch

from rewards.rollout import unit_reward_sums
from rewards.units import split_rewards
from seqgan.models import Discriminator, Generator
from seqgan.seeding import uniforms
from seqgan.sizing import ResolvedUnits

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_rollout_rewards_on_gpu_match_cpu():
    torch.manual_seed(0)
    generator = Generator(50, 8, 16, 12).init_normal_(0.5).double().eval()
    disc = Discriminator(50, 8, [1, 2, 3], [5, 5, 5], 0.25).init_paper_().double().eval()
    samples = generator.sample(uniforms(1, (8, 12)))
    units = split_rewards(8, 12, 4, 4, 5, 4, 3, 0)
    sizes = ResolvedUnits(4, 5, 4, chunk_tokens=4096, piece_samples=4, score_rows=341, sample_rows=128)
    cpu = [unit_reward_sums(generator, disc, samples, u, sizes) for u in units]
    generator.cuda(), disc.cuda()
    gpu = [unit_reward_sums(generator, disc, samples.cuda(), u, sizes).cpu() for u in units]
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_learner_uses_the_gpu(smoke_config):
    from learner.learner import Learner
    learner = Learner(smoke_config)
    assert next(learner.generator.parameters()).is_cuda
    samples = learner.generator.sample(uniforms(0, (16, smoke_config.model.seq_len), "cuda"))
    loss = learner.pg_step(samples, torch.rand(16, smoke_config.model.seq_len))
    assert math.isfinite(loss)
    assert learner.real_prob(samples).device.type == "cpu"


def test_rollout_bench_runs_on_the_gpu():
    from learner.bench import rollout as bench
    from learner.cli import parser
    args = parser().parse_args(["bench", "rollout", "--device", "cuda", "--batch", "4", "--rollouts", "2",
                                "--repeats", "1", "--set", "rollout.unit_prefixes=19"])
    (result,) = bench.rollout(args)
    assert result["device"].startswith("cuda") and "gpu" in result["machine"] and result["units"] == 1
    assert 0 < result["peak_bytes"] <= result["memory_budget"]
    assert result["fast_s"] > 0 and result["reference_s"] > 0 and result["floor_s"] > 0


def test_scaling_bench_in_process_on_the_gpu():
    from learner.bench import scaling as bench_scaling
    from learner.cli import parser
    args = parser().parse_args(["bench", "scaling", "--device", "cuda", "--workers", "0", "--seq-lens", "20",
                                "--rollouts", "2", "--repeats", "1"])
    result = bench_scaling.scaling(args)
    assert result["device"].startswith("cuda") and result["throughput"]["T20_N2_K0"] > 0


def test_train_bench_on_the_gpu_with_cuda_graphs(capsys):
    from learner.cli import main
    assert main(["bench", "train", "--device", "cuda", "--json", "--repeats", "1", "--batches", "2", "--set",
                 "model.vocab_size=50", "model.seq_len=10", "discriminator.filter_sizes=[1,2]",
                 "discriminator.num_filters=[4,4]", "data.num_train=200", "data.num_test=64",
                 "train.eval_samples=128", "rollout.num_rollouts=2", "learner.cuda_graphs=true"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["device"].startswith("cuda") and result["cuda_graphs"] is True and "gpu" in result["machine"]
    assert all(p["seconds"] > 0 for p in result["phases"].values()) and "d_step" in result["first_call_s"]


def test_inline_training_runs_its_worker_on_the_learners_gpu(tmp_path, monkeypatch):
    import actors.inline_pool
    from learner.cli import main
    devices = []
    original = actors.inline_pool.InlinePool.__init__

    def record(self, config, device="cpu"):
        devices.append(device)
        original(self, config, device)
    monkeypatch.setattr(actors.inline_pool.InlinePool, "__init__", record)
    assert main(["train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0",
                 "--out", str(tmp_path / "run")]) == 0
    assert devices == ["cuda"] and (tmp_path / "run" / "summary.json").exists()


def smoke_learner(*overrides: str):
    """A smoke-preset learner with fixed real data: (learner, fake sequences, the data's generator)."""
    from learner.learner import Learner
    from seqgan.config_files import load_config
    config = load_config("deploy/configs/smoke.yaml", ["rollout.num_workers=0", *overrides])
    learner = Learner(config)
    draw = torch.Generator().manual_seed(0)
    real, fake = (torch.randint(0, config.model.vocab_size, (256, config.model.seq_len), generator=draw)
                  for _ in range(2))
    learner.load_real_data(real, real[:16])
    return learner, fake, draw


def d_rounds(*overrides: str, keys=(0, 1)):
    """D training rounds `keys` on fixed data: (stats per round, D's parameters, graphed?)."""
    learner, fake, _ = smoke_learner(*overrides)
    stats = [learner.train_discriminator(fake, key) for key in keys]
    graphed = learner.disc_train_forward is not learner.discriminator
    return stats, {k: v.detach().cpu() for k, v in learner.discriminator.state_dict().items()}, graphed


def test_d_training_as_cuda_graphs_matches_eager_and_repeats_from_its_seed():
    eager, eager_params, eager_graphed = d_rounds("discriminator.dropout=0")
    graphs, graphs_params, graphed = d_rounds("discriminator.dropout=0", "learner.cuda_graphs=true")
    assert graphed and not eager_graphed
    for a, b in zip(eager, graphs):  # without dropout the two differ by float rounding only
        assert b["d_loss"] == pytest.approx(a["d_loss"], rel=1e-4) and b["d_acc"] == pytest.approx(a["d_acc"], abs=0.01)
    for name, value in eager_params.items():
        torch.testing.assert_close(graphs_params[name], value, rtol=1e-3, atol=1e-4)
    # With dropout (random masks inside the graphs) the same seed gives the same run, bit for bit
    # (learner.deterministic, the default); other round keys do not.
    first, first_params, _ = d_rounds("learner.cuda_graphs=true")
    again, again_params, _ = d_rounds("learner.cuda_graphs=true")
    other, other_params, _ = d_rounds("learner.cuda_graphs=true", keys=(2, 3))
    assert first == again
    assert all(torch.equal(again_params[k], v) for k, v in first_params.items())
    assert not all(torch.allclose(other_params[k], v, rtol=1e-3, atol=1e-4) for k, v in first_params.items())


def updates(*overrides: str) -> dict:
    """An MLE epoch, a D round and a PG step on fixed data from one seed -> every learned tensor."""
    learner, fake, draw = smoke_learner(*overrides)
    batch, seq_len = learner.config.data.batch_size, learner.config.model.seq_len
    learner.mle_epoch(0)
    learner.train_discriminator(fake, 0)
    learner.pg_step(fake[:batch], torch.rand(batch, seq_len, generator=draw))
    return {f"{name}.{k}": v.detach().cpu() for name, model in learner.models().items()
            for k, v in model.state_dict().items()}


def test_training_on_a_gpu_repeats_bit_for_bit_from_its_seed():
    first, again = updates(), updates()
    assert first.keys() == again.keys()
    assert [k for k, v in first.items() if not torch.equal(again[k], v)] == []


def test_a_long_sequence_stays_within_a_small_budget_on_the_gpu():
    """T=200 under a 4 MB budget: the CUDA allocator's peak stays under it, and the sums equal those
    of the default budget."""
    from rewards.units import batch_reward_units
    from seqgan.config_files import load_config
    from seqgan.models import build_discriminator, build_generator
    from seqgan.sizing import resolve_units
    sums = {}
    for budget in (1 << 30, 4_000_000):
        config = load_config(None, ["model.seq_len=200", "model.vocab_size=50", "generator.embed_dim=8",
                                    "generator.hidden_dim=16", "discriminator.embed_dim=8",
                                    "discriminator.filter_sizes=[1,3,7]", "discriminator.num_filters=[6,12,6]",
                                    "data.batch_size=2", "rollout.num_rollouts=4", f"rollout.memory_budget={budget}"])
        torch.manual_seed(0)
        generator = build_generator(config.model, config.generator).init_normal_(0.5).eval().cuda()
        disc = build_discriminator(config.model, config.discriminator).init_paper_().eval().cuda()
        samples = generator.sample(uniforms(1, (2, 200), "cuda"))
        (unit,) = batch_reward_units(config, "cuda", 2, 0)
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        sums[budget] = unit_reward_sums(generator, disc, samples, unit, resolve_units(config, "cuda")).cpu()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    assert peak <= 4_000_000, peak
    torch.testing.assert_close(sums[4_000_000], sums[1 << 30], rtol=0, atol=1e-5)
