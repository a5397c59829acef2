"""The training driver: Algorithm 1 of the SeqGAN paper, timing each phase.

The learner and the pool may be local objects or Ray handles behind the same interfaces
(learner/role.py, actors/pool.py); this loop is the same either way. A run is a sequence of steps (MLE epochs,
D pre-training rounds, adversarial iterations); each ends with one metrics record, and every
`train.checkpoint_every` steps of a phase (and at its end, and on a stop request) with a checkpoint
from which `--resume` continues exactly.
"""
from __future__ import annotations

import json
import math
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch

from actors.sync import DISCRIMINATOR, GENERATOR, ROLLOUT, WeightsLost, check_versions
from actors.pool import Pool
from learner.methods import method_for
from learner.role import LearnerRole
from learner.finite import require_bounded
from learner.finite import where
from learner.run.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from learner.run.log import RunLog, records_at
from learner.run.store import RunStore
from learner.stopping import LearnerLost, RunFailed, StopFlag, StopRequested
from rewards.bleu.text_metrics import TextMetrics
from rewards.units import assemble_rewards, batch_reward_units, split_samples
from seqgan.config import Config
from seqgan.config_files import dump_config
from seqgan.endings import kept_mean, past_end
from seqgan.metrics import finite_or_none, nll_per_token
from seqgan.data.real_data import real_data

WRITTEN = ("config.yaml", "metrics.jsonl", "checkpoints", "summary.json")


class Trainer:
    def __init__(self, config: Config, run: RunStore | str | Path, learner: LearnerRole, pool: Pool,
                 resume: Checkpoint | None = None, watch=None, stop: StopFlag | None = None):
        """run: the run directory (a path, a URI or its store); watch(kept records) -> watchers that see
        every record (progress, TensorBoard)."""
        run = run if isinstance(run, RunStore) else RunStore(run)
        self.config, self.run, self.learner, self.pool = config, run, learner, pool
        self.method = method_for(config)  # what an adversarial iteration does (train.method)
        self.stop = stop or StopFlag()
        if resume is None and any(run.exists(name) for name in WRITTEN):
            raise FileExistsError(f"run directory {str(run)!r} already holds a run; give a new --out so nothing "
                                  "written there is overwritten, or continue it with --resume")
        self.train_data, self.test_data, self.oracle = real_data(config)  # bad data fails before any write
        self.text_metrics = (TextMetrics(self.test_data, config.model.end_token)
                             if config.data.corpus is not None else None)
        self.watch = watch or (lambda kept: [])
        self.learner.load_real_data(self.train_data, self.test_data)
        if resume is None:
            run.make()
            run.write_bytes("config.yaml", dump_config(config).encode())
            self.log, self.steps_done, self.wall_before = RunLog(run, [], self.watch([])), 0, 0.0
            # step 0: a run killed before its first step resumes too
            save_checkpoint(run, learner.state(), {"steps_done": 0, "records": 0, "pending": None, "wall_s": 0.0})
        else:
            self.log = None
            self.go_back_to(resume)
            self.wall_before = resume.progress.get("wall_s", 0.0)
        self.published: dict[str, int] = {}
        self.restarts, self.restarts_logged = 0, 0  # learners lost and restored
        self.seconds: dict[str, float] = defaultdict(float)  # per phase, this step
        self.totals: dict[str, float] = defaultdict(float, self.log.phase_seconds())  # per phase, whole run

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

    def broadcast_unpublished(self, *names: str) -> None:
        """Models this process has not sent yet (a resumed run starts with none on its workers)."""
        missing = [name for name in names if name not in self.published]
        if missing:
            self.broadcast(*missing)

    def generate(self, count: int, phase: str, *keys: int) -> torch.Tensor:
        """`count` fresh sequences from G, in sampling units seeded by (seed, phase, keys, unit)."""
        units = split_samples(count, self.config.rollout.sample_unit, self.config.train.seed, phase, *keys)
        results = self.pool.run(units)
        check_versions(results, self.published)
        return torch.cat([r.value for r in results])

    def rewards(self, samples: torch.Tensor, step: int) -> torch.Tensor:
        """Q [B, T]: Monte Carlo rewards of the rollout policy's completions under D (pg_bleu: their BLEU)."""
        units = batch_reward_units(self.config, self.pool.device_kind, len(samples), step)
        results = self.pool.run(units, samples)
        check_versions(results, self.published)
        return assemble_rewards(units, [x.value for x in results], self.learner.final_rewards(samples),
                                samples.shape[1], self.config.rollout.num_rollouts,
                                past_end(samples, self.config.model.end_token))

    def eval_samples(self) -> torch.Tensor:
        return self.generate(self.config.train.eval_samples, "eval", self.steps_done)

    def evaluate(self, disc: bool = False) -> dict:
        """NLL-test, NLL-oracle (with an oracle), BLEU and Self-BLEU (with a corpus) and, once D is
        trained, D on held-out data."""
        with self.timed("eval"):
            metrics = {"nll_test": self.learner.nll_test()}
            if self.oracle is not None or disc or self.text_metrics:
                samples = self.eval_samples()
            if self.oracle is not None:
                metrics["nll_oracle"] = nll_per_token(self.oracle, samples)
            if self.text_metrics:  # corpora: BLEU against the test set, Self-BLEU of the samples
                metrics.update(self.text_metrics(samples))
            if disc:
                metrics.update(self.learner.disc_heldout(samples))
        return metrics

    # -- the end of every step: its record, and a checkpoint when due -------------------------
    def end_step(self, phase: str, step: int, count: int, values: dict) -> None:
        """Log step `step` of `count` in `phase`; checkpoint every train.checkpoint_every steps of a
        phase, at its end, and when a stop was requested (then stop)."""
        bad = sorted(k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v))
        if bad:  # a NaN would otherwise train on silently and be saved as the best result
            raise FloatingPointError(f"{phase} step {step}: {', '.join(f'{k} = {values[k]}' for k in bad)}; "
                                     "the run stops here and keeps its last checkpoint")
        require_bounded(phase, step, values, self.config.model.vocab_size)  # finite but diverged
        self.steps_done += 1
        if self.restarts > self.restarts_logged:  # a fault counter: a clean run has none
            values = {**values, "learner_restarts": self.restarts - self.restarts_logged}
            self.restarts_logged = self.restarts
        record = {"phase": phase, "step": step, **values}
        stopping = self.stop.requested  # read once: a signal may come at any moment
        due = (step + 1) % self.config.train.checkpoint_every == 0 or step == count - 1
        if due or stopping:
            pending = {**record, **{f"time_{k}": round(v, 4) for k, v in self.seconds.items()}}
            with self.timed("checkpoint"):
                save_checkpoint(self.run, self.learner.state(),
                                {"steps_done": self.steps_done, "records": len(self.log), "pending": pending,
                                 "wall_s": round(self.wall_s(), 2)})
        self.log.write({**record, **self.take_times()})
        if stopping:
            raise StopRequested(self.stop.signum, f"stopped after {phase} step {step} ({self.steps_done} steps "
                                f"done); a checkpoint is in {self.run}. Continue with: seqgan train --resume "
                                f"{self.run}")

    def wall_s(self) -> float:
        return self.wall_before + time.perf_counter() - self.started

    # -- Algorithm 1 ---------------------------------------------------------------------
    def pretrain_generator(self, first: int) -> None:
        t = self.config.train
        for epoch in range(first, t.mle_epochs):
            with self.timed("mle"):
                loss = self.learner.mle_epoch(epoch)
            evals = {}
            if (epoch + 1) % t.eval_every == 0 or epoch == t.mle_epochs - 1:
                self.broadcast(GENERATOR)
                evals = self.evaluate()
            self.end_step("mle", epoch, t.mle_epochs, {"g_loss": loss, **evals})

    def train_discriminator(self, round_key: int) -> dict:
        with self.timed("sample"):
            negatives = self.generate(len(self.train_data), "negatives", round_key)
        with self.timed("disc"):
            return self.learner.train_discriminator(negatives, round_key)

    def pretrain_discriminator(self, first: int) -> None:
        rounds = self.method.pretrain_rounds()
        if first < rounds:
            self.broadcast_unpublished(GENERATOR)  # MLE's last epoch already sent the current G
        for round_index in range(first, rounds):
            stats = self.train_discriminator(round_index)
            if round_index == rounds - 1:
                with self.timed("eval"):  # D as the adversarial phase starts with it
                    stats.update(self.learner.disc_heldout(self.eval_samples()))
            self.end_step("disc", round_index, rounds, stats)

    def adversarial_iteration(self, iteration: int) -> dict:
        """SeqGAN's iteration (PG-BLEU's too, without D). G, the rollout policy and what rewards are
        computed with are current on the workers when this starts."""
        t, stats = self.config.train, {}
        for g_step in range(t.g_steps):
            step = iteration * t.g_steps + g_step
            with self.timed("sample"):
                samples = self.generate(self.config.data.batch_size, "pg_batch", step)  # Y ~ G
            with self.timed("rollout"):
                rewards = self.rewards(samples, step)  # Q(Y_1:t-1, y_t) by Monte Carlo search
            with self.timed("pg"):
                stats["g_loss"] = self.learner.pg_step(samples, rewards, step)  # policy gradient on G
            stats["mean_reward"] = kept_mean(rewards, past_end(samples, self.config.model.end_token)).item()
            self.broadcast(GENERATOR)
        self.learner.update_rollout_policy()  # the rollout policy follows G
        self.broadcast(ROLLOUT)
        if self.method.uses_discriminator:
            for d_step in range(t.d_steps):  # D on fresh negatives, k epochs each
                key = t.disc_pretrain_rounds + iteration * t.d_steps + d_step
                try:
                    stats.update(self.train_discriminator(key))
                except FloatingPointError as error:  # named by this iteration, not by D's round key
                    what = str(error).removeprefix(f"{where('disc', key)}: ")
                    raise FloatingPointError(f"adv step {iteration} (D round {d_step + 1} of {t.d_steps}): "
                                             f"{what}") from None
            if t.d_steps:
                self.broadcast(DISCRIMINATOR)  # D is re-sent only after a discriminator phase
        return stats

    def adversarial(self, first: int) -> None:
        """The adversarial phase: each iteration as the run's method does it (SeqGAN: the one above)."""
        t = self.config.train
        if first < t.adv_iterations and self.method.reward_models:  # pg_bleu: the references instead of D
            self.broadcast_unpublished(*self.method.worker_models)  # timed in this first record
        self.pool.stats()  # pool statistics start with the adversarial phase
        for iteration in range(first, t.adv_iterations):
            stats = self.method.iteration(self, iteration)
            if (iteration + 1) % t.eval_every == 0 or iteration == t.adv_iterations - 1:
                stats.update(self.evaluate(disc=self.method.uses_discriminator))
            stats.update(self.pool.stats())
            self.end_step("adv", iteration, t.adv_iterations, stats)

    def run_phases(self) -> None:
        t, done = self.config.train, self.steps_done
        self.pretrain_generator(first=done)
        self.pretrain_discriminator(first=max(0, done - t.mle_epochs))
        self.adversarial(first=max(0, done - t.mle_epochs - self.method.pretrain_rounds()))

    def restore(self, lost: Exception) -> None:
        """A new learner from the latest checkpoint; the steps after it are redone (and their records,
        already written, replaced), so the run goes on as if nothing happened."""
        self.restarts += 1
        limit = self.config.learner.max_restarts
        if self.restarts > limit:
            raise RunFailed(f"the learner was lost {self.restarts} times, more than learner.max_restarts = "
                               f"{limit}; the last time: {lost}. The run can continue with: seqgan train "
                               f"--resume {self.run}") from lost
        checkpoint = load_checkpoint(self.run)
        print(f"seqgan: lost the learner or its published weights ({lost}); restarting it from {checkpoint.name} "
              f"({self.restarts} of at most {limit})", file=sys.stderr, flush=True)
        self.learner.restart()
        self.learner.load_real_data(self.train_data, self.test_data)
        self.go_back_to(checkpoint)
        self.learner.continue_versions(self.published)  # past what the workers hold
        self.published.clear()
        self.seconds.clear()

    def go_back_to(self, checkpoint: Checkpoint) -> None:
        """The learner, the log and the step count as they were at `checkpoint`."""
        self.learner.load_state(checkpoint.state)
        if self.log is not None:
            self.log.close()
        kept = records_at(self.run, checkpoint)
        self.log = RunLog(self.run, kept, self.watch(kept))
        self.steps_done = checkpoint.progress["steps_done"]

    def train(self) -> dict:
        """Algorithm 1 from wherever the run is (step 0, or a resumed checkpoint's)."""
        self.started = time.perf_counter()
        with self.stop:
            try:
                lost = None
                while True:
                    try:
                        if lost is not None:
                            self.restore(lost)  # may itself lose the new learner: counted, bounded
                            lost = None
                        self.run_phases()
                        break
                    except (LearnerLost, WeightsLost) as error:
                        lost = error
            finally:
                self.log.close()
        summary = {"best_nll_oracle": finite_or_none(self.log.best("nll_oracle")),
                   "final_nll_oracle": finite_or_none(self.log.last("nll_oracle")),
                   "mle_nll_oracle": finite_or_none(self.log.last("nll_oracle", phase="mle")),
                   **({"self_bleu_variant": TextMetrics.variant} if self.text_metrics else {}),
                   "wall_s": round(self.wall_s(), 2), "torch_threads": self.learner.torch_threads(),
                   "phase_s": {k: round(v, 2) for k, v in self.totals.items()},
                   **({"learner_restarts": self.restarts} if self.restarts else {})}
        self.run.write_bytes("summary.json", json.dumps(summary, indent=2, allow_nan=False).encode())
        return summary
