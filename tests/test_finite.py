"""Numbers that never go silent: a NaN or infinity in a loss, a gradient norm, the rewards, D's
scores or the weights stops the phase at its step, names phase, step and quantity, and leaves
nothing non-finite to broadcast or checkpoint."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import learner.learner as learner_module
from learner.run.checkpoint import load_checkpoint
from learner.learner import Learner
from learner.run.log import RunLog
from learner.run.store import RunStore
from seqgan.packing import unpack_state
from seqgan.seeding import uniforms

ROOT = Path(__file__).resolve().parents[1]
NAN = torch.tensor(float("nan"))
KEPT = "; the run stops here and keeps its last checkpoint"


def learner_with_data(config) -> Learner:
    """A smoke-sized learner with 64 real sequences: two MLE batches an epoch."""
    learner = Learner(config)
    draw = torch.Generator().manual_seed(0)
    shape, vocab = (64, config.model.seq_len), config.model.vocab_size
    learner.load_real_data(torch.randint(0, vocab, shape, generator=draw),
                           torch.randint(0, vocab, (32, shape[1]), generator=draw))
    return learner


def pg_batch(learner: Learner) -> tuple[torch.Tensor, torch.Tensor]:
    samples = learner.generator.sample(uniforms(0, (32, learner.config.model.seq_len)))
    return samples, torch.full(samples.shape, 0.5)


def infinite_gradient(parameter: torch.nn.Parameter) -> None:
    """Every gradient of `parameter` becomes +inf from here on; the loss itself stays finite."""
    parameter.register_hook(lambda grad: torch.full_like(grad, math.inf))


def plus_nan(function):
    """`function`'s loss plus a constant NaN: the value is NaN, the gradients stay finite."""
    return lambda *args, **kwargs: function(*args, **kwargs) + NAN


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def assert_unchanged(before: list[torch.Tensor], model: torch.nn.Module) -> None:
    for old, new in zip(before, model.parameters()):
        torch.testing.assert_close(new.detach(), old, rtol=0, atol=0)


# -- MLE --------------------------------------------------------------------------------------
@pytest.mark.unit
def test_mle_loss_is_named_with_its_epoch(smoke_config, monkeypatch):
    learner = learner_with_data(smoke_config)
    monkeypatch.setattr(F, "cross_entropy", plus_nan(F.cross_entropy))
    with pytest.raises(FloatingPointError) as refused:
        learner.mle_epoch(3)
    assert str(refused.value) == "mle step 3: g_loss is nan" + KEPT  # only the loss: no false alarms
    assert learner.versions == {"generator": 0, "rollout": 0, "discriminator": 0}


@pytest.mark.unit
def test_mle_gradient_norm_is_named(smoke_config):
    learner = learner_with_data(smoke_config)
    infinite_gradient(learner.generator.out.weight)
    with pytest.raises(FloatingPointError, match=r"^mle step 1: .*the generator's gradient norm is (inf|nan);"):
        learner.mle_epoch(1)


@pytest.mark.unit
def test_weights_gone_bad_in_the_last_mle_step_stop_that_epoch(smoke_config):
    """Loss and gradients finite, yet the update leaves an infinite weight (as a huge learning rate
    can): caught in that epoch, before the rollout policy copies it."""
    learner = learner_with_data(smoke_config)
    optimizer, steps = learner.optimizers["mle"], []
    real_step = optimizer.step

    def step_then_overflow():
        real_step()
        steps.append(1)
        if len(steps) == 2:  # the epoch's last batch
            with torch.no_grad():
                learner.generator.out.bias[0] = math.inf
    optimizer.step = step_then_overflow
    rollout = weights(learner.rollout)
    with pytest.raises(FloatingPointError) as refused:
        learner.mle_epoch(0)
    assert str(refused.value) == "mle step 0: generator weights hold 1 NaN or infinite value" + KEPT
    assert_unchanged(rollout, learner.rollout)


# -- policy gradient --------------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize("bad, says", [(math.nan, "rewards hold 1 NaN or infinite value"),
                                       (math.inf, "rewards hold 1 NaN or infinite value"),
                                       (1.5, "rewards hold 1 value outside [0, 1] (min 0.5, max 1.5)"),
                                       (-0.25, "rewards hold 1 value outside [0, 1] (min -0.25, max 0.5)")])
def test_bad_rewards_are_refused_before_they_train_g(smoke_config, bad, says):
    learner = Learner(smoke_config)
    samples, rewards = pg_batch(learner)
    rewards[3, 4] = bad
    before = weights(learner.generator)
    with pytest.raises(FloatingPointError) as refused:
        learner.pg_step(samples, rewards, 7)
    assert str(refused.value) == f"pg step 7: {says}" + KEPT
    assert_unchanged(before, learner.generator)
    assert learner.versions["generator"] == 0


@pytest.mark.unit
def test_pg_without_a_step_names_the_phase(smoke_config):
    learner = Learner(smoke_config)
    samples, rewards = pg_batch(learner)
    rewards[0, 0] = math.nan
    with pytest.raises(FloatingPointError, match=r"^pg: rewards hold 1 NaN"):
        learner.pg_step(samples, rewards)


@pytest.mark.unit
def test_pg_loss_is_named(smoke_config, monkeypatch):
    learner = Learner(smoke_config)
    monkeypatch.setattr(learner_module, "policy_gradient_loss", plus_nan(learner_module.policy_gradient_loss))
    with pytest.raises(FloatingPointError) as refused:
        learner.pg_step(*pg_batch(learner), 2)
    assert str(refused.value) == "pg step 2: g_loss is nan" + KEPT


@pytest.mark.unit
def test_pg_gradient_norm_is_named(smoke_config):
    learner = Learner(smoke_config)
    infinite_gradient(learner.generator.lstm.weight_hh_l0)
    with pytest.raises(FloatingPointError, match=r"^pg step 2: the generator's gradient norm is (inf|nan); "
                                                 r"generator weights hold \d+ NaN or infinite values;"):
        learner.pg_step(*pg_batch(learner), 2)
    assert learner.versions["generator"] == 0


# -- D ----------------------------------------------------------------------------------------
@pytest.mark.unit
def test_disc_loss_is_named_with_its_round(smoke_config, monkeypatch):
    learner = learner_with_data(smoke_config)
    monkeypatch.setattr(learner.discriminator, "l2_loss", lambda: NAN)  # adds NaN, leaves the gradients
    with pytest.raises(FloatingPointError) as refused:
        learner.train_discriminator(torch.randint(0, 60, (64, 10)), 5)
    assert str(refused.value) == "disc step 5: d_loss is nan" + KEPT
    assert learner.versions["discriminator"] == 0


@pytest.mark.unit
def test_disc_scores_are_named(smoke_config):
    learner = learner_with_data(smoke_config)
    forward = learner.disc_train_forward

    def one_infinite_score(tokens):
        logits = forward(tokens)
        infinite = torch.zeros_like(logits)
        infinite[0, 0] = math.inf
        return logits + infinite
    learner.disc_train_forward = one_infinite_score
    with pytest.raises(FloatingPointError, match=r"^disc step 5: .*D's scores hold \d+ NaN or infinite value"):
        learner.train_discriminator(torch.randint(0, 60, (64, 10)), 5)


@pytest.mark.unit
def test_disc_gradient_blowup_shows_in_its_weights_that_round(smoke_config):
    """D's gradient norm is not computed: an infinite gradient must still stop the round it happens in."""
    learner = learner_with_data(smoke_config)
    infinite_gradient(learner.discriminator.out.weight)
    with pytest.raises(FloatingPointError, match=r"^disc step 0: .*discriminator weights hold \d+ NaN"):
        learner.train_discriminator(torch.randint(0, 60, (64, 10)), 0)


# -- weights leaving the learner ---------------------------------------------------------------
@pytest.mark.unit
def test_pack_refuses_non_finite_weights_for_broadcast_and_checkpoint(smoke_config):
    learner = learner_with_data(smoke_config)
    learner.mle_epoch(0)
    with torch.no_grad():
        learner.rollout.embedding.weight[2, 3] = math.nan
    said = "mle step 0: rollout weights hold 1 NaN or infinite value" + KEPT
    for leave in (lambda: learner.publish("rollout"), learner.state):
        with pytest.raises(FloatingPointError) as refused:
            leave()
        assert str(refused.value) == said
    learner.pack("generator")  # the others still pack


@pytest.mark.unit
def test_metrics_log_refuses_nan(tmp_path):
    run = RunStore(tmp_path / "run")
    run.make()
    log = RunLog(run, [])
    with pytest.raises(ValueError):
        log.write({"phase": "mle", "step": 0, "g_loss": math.nan})
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == ""


# -- the command end to end -------------------------------------------------------------------
def seqgan(*args):
    return subprocess.run([sys.executable, "-m", "learner.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def strict_json(line: str):
    def refuse(constant):
        raise AssertionError(f"{constant} in {line!r}: not JSON")
    return json.loads(line, parse_constant=refuse)


@pytest.mark.smoke
@pytest.mark.parametrize("optimizer, said, latest", [
    # Adam steps by about lr: weights pass float32's 3.4e38 within the first epoch / round. The
    # config refuses such rates, so the learner's optimizer gets it after validation.
    ("mle", "mle step 0: g_loss is nan; the generator's gradient norm is nan; generator weights hold",
     "step-00000000"),
    ("disc", "disc step 0: d_loss is nan; D's scores hold", "step-00000004"),
])
def test_a_diverging_run_stops_with_its_last_good_checkpoint(tmp_path, monkeypatch, capsys, optimizer, said, latest):
    from learner.cli import main
    built = Learner.__init__

    def with_a_huge_rate(self, config):
        built(self, config)
        for group in self.optimizers[optimizer].param_groups:
            group["lr"] = 1e38

    monkeypatch.setattr(Learner, "__init__", with_a_huge_rate)
    threads = torch.get_num_threads()
    run = tmp_path / "run"
    code = main(["train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0",
                 "learner.torch_threads=1", "--out", str(run)])
    torch.set_num_threads(threads)
    err = capsys.readouterr().err
    assert code == 3, err[-3000:]
    assert f"seqgan: error: {said}" in err and KEPT in err
    assert "Traceback" not in err
    records = [strict_json(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(v) for r in records for v in r.values() if isinstance(v, float))
    assert len(records) == int(latest[-8:])  # MLE's records, each one finite, up to the last good step
    assert not (run / "summary.json").exists()
    checkpoint = load_checkpoint(RunStore(run))
    assert checkpoint.name == latest
    for packed in checkpoint.state["models"].values():
        assert all(torch.isfinite(t).all() for t in unpack_state(packed).values())
    sampled = seqgan("sample", "--run", run, "-n", 5, "--out", tmp_path / "samples.txt")
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    lines = (tmp_path / "samples.txt").read_text().splitlines()
    assert len(lines) == 5 and all(len(line.split()) == 10 for line in lines)


@pytest.mark.unit
@pytest.mark.parametrize("quantity, phase, step", [("nll_test", "mle", 1), ("g_loss", "mle", 2)])
def test_a_finite_but_diverged_nll_stops_the_run_naming_phase_step_and_quantity(tmp_path, monkeypatch, capsys,
                                                                                 quantity, phase, step):
    """generator.lr = 1e30 once trained to NLL-oracle 8e31 and exit status 0."""
    from learner.cli import main
    from learner.finite import DIVERGED
    if quantity == "nll_test":
        monkeypatch.setattr(Learner, "nll_test", lambda self: 8e31 if self.versions["generator"] > step else 4.0)
    else:
        honest = Learner.mle_epoch
        monkeypatch.setattr(Learner, "mle_epoch", lambda self, epoch, keep=1.0:
                            1e3 if epoch == step else honest(self, epoch, keep))
    threads = torch.get_num_threads()
    run = tmp_path / "run"
    code = main(["train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0",
                 "learner.torch_threads=1", "train.eval_every=1", "train.checkpoint_every=1", "--out", str(run)])
    torch.set_num_threads(threads)
    err = capsys.readouterr().err
    limit = DIVERGED * math.log(60)
    assert code == 3, err[-3000:]
    assert f"{phase} step {step}: {quantity} = " in err and f"above {DIVERGED:g} x ln V = {limit:.4g}" in err, err
    assert KEPT in err and "Traceback" not in err
    assert len((run / "metrics.jsonl").read_text().splitlines()) == step
    assert load_checkpoint(RunStore(run)).name == f"step-{step:08d}"
