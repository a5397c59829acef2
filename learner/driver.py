"""The training driver: Algorithm 1 of the SeqGAN paper, timing each phase.

The learner and the pool may be local objects or Ray handles behind the same interface (see
learner/remote.py); this loop is the same either way.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch

from learner.checkpoint import save_checkpoint
from rewards.units import assemble_rewards, batch_reward_units, split_samples
from seqgan.config import Config, dump_config
from seqgan.data import read_tokens
from seqgan.metrics import MetricsLog, finite_or_none, nll_per_token
from seqgan.oracle import check_oracle_fits, load_oracle, new_oracle
from seqgan.packing import atomic_write_bytes
from seqgan.seeding import derive_seed, uniforms


def real_data(config: Config):
    """(train [N, T], test [M, T], oracle or None) as the config says."""
    m, d = config.model, config.data
    if d.train_file is not None:
        train = read_tokens(d.train_file, m.vocab_size, m.seq_len)
        if len(train) < d.batch_size:  # MLE and D use full batches only: a smaller set trains nothing
            raise ValueError(f"data.train_file {d.train_file!r} holds {len(train)} sequences, fewer than "
                             f"data.batch_size = {d.batch_size}")
        return train, read_tokens(d.test_file, m.vocab_size, m.seq_len), None
    if d.oracle is not None:
        oracle = load_oracle(d.oracle)
        check_oracle_fits(oracle, m.vocab_size, m.seq_len, m.start_token, d.oracle)
    else:
        g = config.generator
        oracle = new_oracle(m.vocab_size, g.embed_dim, g.hidden_dim, m.seq_len, m.start_token, d.oracle_seed)
    train = oracle.sample(uniforms(derive_seed(d.oracle_seed, "train_data"), (d.num_train, m.seq_len)))
    test = oracle.sample(uniforms(derive_seed(d.oracle_seed, "test_data"), (d.num_test, m.seq_len)))
    return train, test, oracle


class Trainer:
    def __init__(self, config: Config, run_dir: str | Path, learner, pool):
        self.config, self.learner, self.pool = config, learner, pool
        self.run_dir = Path(run_dir)
        written = ("config.yaml", "metrics.jsonl", "checkpoints", "summary.json")
        if any((self.run_dir / name).exists() for name in written):
            raise FileExistsError(f"run directory {str(self.run_dir)!r} already holds a run; "
                                  "give a new --out so nothing written there is overwritten")
        self.train_data, self.test_data, self.oracle = real_data(config)  # bad data fails before any write
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.run_dir / "config.yaml", [dump_config(config).encode()])
        self.log = MetricsLog(self.run_dir)
        self.learner.load_real_data(self.train_data, self.test_data)
        self.published: dict[str, int] = {}
        self.seconds: dict[str, float] = defaultdict(float)  # per phase, this step
        self.totals: dict[str, float] = defaultdict(float)  # per phase, whole run
        self.steps_done = 0
        self.mle_nll_oracle = float("nan")

    @contextmanager
    def timed(self, phase: str):
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.seconds[phase] += elapsed
        self.totals[phase] += elapsed

    def take_times(self) -> dict:
        times = {f"time_{k}": round(v, 4) for k, v in self.seconds.items()}
        self.seconds.clear()
        return times

    # -- the pieces of Algorithm 1 ----------------------------------------------------------
    def broadcast(self, *names: str) -> None:
        """Pack each model once and hand the same payload to every worker."""
        with self.timed("broadcast"):
            for name in names:
                version, payload = self.learner.publish(name)
                self.pool.publish(name, version, payload)
                self.published[name] = version

    def _check_versions(self, results) -> None:
        for result in results:
            for name, version in result.versions.items():
                if version != self.published[name]:
                    raise RuntimeError(f"unit {result.unit_index} used {name} v{version}, "
                                       f"expected the published v{self.published[name]}")

    def generate(self, count: int, phase: str, *keys: int) -> torch.Tensor:
        """`count` fresh sequences from G, in sampling units seeded by (seed, phase, keys, unit)."""
        units = split_samples(count, self.config.rollout.sample_unit, self.config.train.seed, phase, *keys)
        results = self.pool.run(units)
        self._check_versions(results)
        return torch.cat([r.value for r in results])

    def rewards(self, samples: torch.Tensor, step: int) -> torch.Tensor:
        """Q [B, T]: Monte Carlo rewards of the rollout policy's completions under D."""
        units = batch_reward_units(self.config, self.pool.device_kind, len(samples), step)
        results = self.pool.run(units, samples)
        self._check_versions(results)
        return assemble_rewards(units, [x.value for x in results], self.learner.real_prob(samples),
                                samples.shape[1], self.config.rollout.num_rollouts)

    def eval_samples(self) -> torch.Tensor:
        return self.generate(self.config.train.eval_samples, "eval", self.steps_done)

    def evaluate(self, disc: bool = False) -> dict:
        """NLL-test, NLL-oracle (with an oracle) and, once D is trained, D on held-out data."""
        with self.timed("eval"):
            metrics = {"nll_test": self.learner.nll_test()}
            if self.oracle is not None or disc:
                samples = self.eval_samples()
            if self.oracle is not None:
                metrics["nll_oracle"] = nll_per_token(self.oracle, samples)
            if disc:
                metrics.update(self.learner.disc_heldout(samples))
        return metrics

    def checkpoint(self, phase: str) -> None:
        with self.timed("checkpoint"):
            save_checkpoint(self.run_dir, self.learner.state(), {"phase": phase, "step": self.steps_done})

    # -- Algorithm 1 ---------------------------------------------------------------------
    def pretrain_generator(self) -> None:
        t = self.config.train
        for epoch in range(t.mle_epochs):
            with self.timed("mle"):
                loss = self.learner.mle_epoch(epoch)
            self.steps_done += 1
            last = epoch == t.mle_epochs - 1
            evals = {}
            if (epoch + 1) % t.eval_every == 0 or last:
                self.broadcast("generator")
                evals = self.evaluate()
            if last:
                self.checkpoint("mle")
            self.log.log("mle", epoch, g_loss=loss, **evals, **self.take_times())
        if t.mle_epochs:
            self.mle_nll_oracle = self.log.last_nll_oracle

    def train_discriminator(self, round_key: int) -> dict:
        with self.timed("sample"):
            negatives = self.generate(len(self.train_data), "negatives", round_key)
        with self.timed("disc"):
            return self.learner.train_discriminator(negatives, round_key)

    def pretrain_discriminator(self) -> None:
        if "generator" not in self.published:  # MLE's last epoch already sent the current G
            self.broadcast("generator")
        rounds = self.config.train.disc_pretrain_rounds
        for round_index in range(rounds):
            stats = self.train_discriminator(round_index)
            self.steps_done += 1
            if round_index == rounds - 1:
                with self.timed("eval"):  # D as the adversarial phase starts with it
                    stats.update(self.learner.disc_heldout(self.eval_samples()))
                self.checkpoint("disc")
            self.log.log("disc", round_index, **stats, **self.take_times())

    def adversarial_iteration(self, iteration: int) -> dict:
        """G, the rollout policy and D are current on the workers when this starts."""
        t, stats = self.config.train, {}
        for g_step in range(t.g_steps):
            step = iteration * t.g_steps + g_step
            with self.timed("sample"):
                samples = self.generate(self.config.data.batch_size, "pg_batch", step)  # Y ~ G
            with self.timed("rollout"):
                rewards = self.rewards(samples, step)  # Q(Y_1:t-1, y_t) by Monte Carlo search
            with self.timed("pg"):
                stats["g_loss"] = self.learner.pg_step(samples, rewards)  # policy gradient on G
            stats["mean_reward"] = rewards.mean().item()
            self.broadcast("generator")
        self.learner.update_rollout_policy()  # the rollout policy follows G
        self.broadcast("rollout")
        for d_step in range(t.d_steps):  # D on fresh negatives, k epochs each
            stats.update(self.train_discriminator(t.disc_pretrain_rounds + iteration * t.d_steps + d_step))
        if t.d_steps:
            self.broadcast("discriminator")  # D is re-sent only after a discriminator phase
        return stats

    def adversarial(self) -> None:
        t = self.config.train
        if t.adv_iterations:
            self.broadcast("rollout", "discriminator")  # timed in iteration 0's record
        self.pool.stats()  # pool statistics start with the adversarial phase
        for iteration in range(t.adv_iterations):
            stats = self.adversarial_iteration(iteration)
            self.steps_done += 1
            last = iteration == t.adv_iterations - 1
            if (iteration + 1) % t.eval_every == 0 or last:
                stats.update(self.evaluate(disc=True))
            stats.update(self.pool.stats())
            if (iteration + 1) % t.checkpoint_every == 0 or last:
                self.checkpoint("adv")
            self.log.log("adv", iteration, **stats, **self.take_times())

    def train(self) -> dict:
        start = time.perf_counter()
        self.pretrain_generator()
        self.pretrain_discriminator()
        self.adversarial()
        summary = {**self.log.summary(), "mle_nll_oracle": finite_or_none(self.mle_nll_oracle),
                   "wall_s": round(time.perf_counter() - start, 2),
                   "phase_s": {k: round(v, 2) for k, v in self.totals.items()}}
        atomic_write_bytes(self.run_dir / "summary.json", [json.dumps(summary, indent=2).encode()])
        return summary
