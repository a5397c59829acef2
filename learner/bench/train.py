"""`seqgan bench train`: each phase of Algorithm 1 timed once at the config's sizes, through the same
Learner, pool and Trainer methods a run uses, and the whole run projected from the config's counts."""
from __future__ import annotations

import math
import os
import tempfile

from actors.inline_pool import InlinePool, torch_threads
from learner.bench.common import PAPER, machine, seconds
from learner.driver import Trainer
from learner.learner import Learner, resolve_device
from learner.threads import usable_cores
from learner.methods import method_for
from seqgan.config import Config
from seqgan.config_files import load_config

# What one unit of each phase is, in the order of the table.
UNITS = {
    "mle_epoch": "one MLE epoch over the training set",
    "d_step": "one D step (a batch: forward, backward, Adam, dropout and L2)",
    "sample_negatives": "sampling one round of negatives (as many as the training set)",
    "sample_pg": "sampling one PG batch",
    "rewards": "one reward computation (batch x (T-1) prefixes x N rollouts)",
    "pg_step": "one policy-gradient step",
    "broadcast": "pack + unpack of G, the rollout policy and D",
    "eval_mle": "one MLE evaluation (NLL-test, NLL-oracle of eval_samples)",
    "eval_adv": "one adversarial evaluation (as MLE's, plus D on held-out data)",
}


def bench_config(args) -> Config:
    """paper.yaml (or --config) with the user's --set and the bench's device; inline rollouts."""
    path = getattr(args, "config", None) or PAPER
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: run the benchmark from the project root or give --config")
    return load_config(path, [*args.set, f"learner.device={args.device}", "rollout.num_workers=0"])


def evaluations(count: int, every: int) -> int:
    """Steps of a phase of `count` steps that evaluate: every `every`th and the last (driver.py)."""
    return sum(1 for step in range(count) if (step + 1) % every == 0 or step == count - 1)


def counts(config: Config, num_train: int) -> dict[str, int]:
    """How often each phase runs in a whole run of `config` (learner/driver.py's loops)."""
    t, batch = config.train, config.data.batch_size
    disc_rounds = t.disc_pretrain_rounds + t.adv_iterations * t.d_steps
    d_steps_per_epoch = math.ceil(2 * num_train / batch)  # positives + as many negatives, last batch partial
    pg_steps = t.adv_iterations * t.g_steps
    return {"mle_epoch": t.mle_epochs, "d_step": disc_rounds * t.disc_epochs * d_steps_per_epoch,
            "sample_negatives": disc_rounds, "sample_pg": pg_steps, "rewards": pg_steps, "pg_step": pg_steps,
            "broadcast": t.adv_iterations, "eval_mle": evaluations(t.mle_epochs, t.eval_every),
            # D pre-training ends with D on held-out data and fresh samples: counted as an adversarial one
            "eval_adv": evaluations(t.adv_iterations, t.eval_every) + (t.disc_pretrain_rounds > 0)}


class PhaseTimer:
    """Times the phases with a Trainer over a throwaway run directory (it writes a step-0 checkpoint)."""

    def __init__(self, config: Config, folder: str, repeats: int, batches: int):
        self.config, self.repeats, self.batches = config, repeats, batches
        self.learner = Learner(config)  # learner.cuda_graphs, when set, compiles D's training forward here
        self.pool = InlinePool(config, method_for(config), str(self.learner.device))  # as `seqgan train` inline
        self.trainer = Trainer(config, os.path.join(folder, "run"), self.learner, self.pool)
        self.train, self.test = self.trainer.train_data, self.trainer.test_data
        self.warmups = 1 if self.learner.device.type == "cuda" else 0  # CUDA: lazy init, graphs, autotuning
        self.first: dict[str, float] = {}  # seconds of the first (warm-up) call, CUDA only

    def time(self, name: str, fn) -> float:
        if self.warmups:
            self.first[name] = seconds(fn, 1)
        return seconds(fn, self.repeats)

    def broadcast(self) -> float:
        def send_all():
            self.learner.continue_versions(self.trainer.published)  # newer versions: the worker unpacks them
            self.trainer.broadcast("generator", "rollout", "discriminator")
        return self.time("broadcast", send_all)

    def mle_epoch(self) -> tuple[float, str]:
        """A full epoch's seconds, scaled from an epoch over the first `batches` batches."""
        batch = self.config.data.batch_size
        full, timed = len(self.train) // batch, min(len(self.train) // batch, self.batches)
        self.learner.load_real_data(self.train[:timed * batch], self.test)
        try:
            epoch_s = self.time("mle_epoch", lambda: self.learner.mle_epoch(0))
        finally:
            self.learner.load_real_data(self.train, self.test)
        return epoch_s * full / timed, f"timed an epoch of {timed} of the {full} batches, scaled"

    def d_step(self) -> tuple[float, str]:
        """Seconds per D step, from a round of Learner.train_discriminator over `batches` batches per
        epoch (half positives, half fresh negatives), train.disc_epochs epochs."""
        batch, epochs = self.config.data.batch_size, self.config.train.disc_epochs
        half = min(len(self.train), max(1, self.batches * batch // 2))
        negatives = self.trainer.generate(half, "negatives", 0)
        steps = epochs * math.ceil(2 * half / batch)
        self.learner.load_real_data(self.train[:half], self.test)
        try:
            round_s = self.time("d_step", lambda: self.learner.train_discriminator(negatives, 0))
        finally:
            self.learner.load_real_data(self.train, self.test)
        return round_s / steps, f"timed a round of {steps} steps ({epochs} epochs x {2 * half} sequences), divided"

    def phases(self) -> dict[str, tuple[float, str]]:
        """Seconds of one unit of each phase, with how it was measured."""
        t, batch = self.trainer, self.config.data.batch_size
        # MLE first: the phases after it sample from a G that has learned where sentences end, as in a run
        measured = {"mle_epoch": self.mle_epoch(), "broadcast": (self.broadcast(), "")}
        measured["sample_negatives"] = (self.time("sample_negatives",
                                                  lambda: t.generate(len(self.train), "negatives", 0)), "")
        measured["sample_pg"] = (self.time("sample_pg", lambda: t.generate(batch, "pg_batch", 0)), "")
        samples = t.generate(batch, "pg_batch", 0)
        measured["rewards"] = (self.time("rewards", lambda: t.rewards(samples, 0)), "inline pool")
        rewards = t.rewards(samples, 0)
        measured["pg_step"] = (self.time("pg_step", lambda: self.learner.pg_step(samples, rewards, 0)), "")
        measured["d_step"] = self.d_step()
        t.broadcast("generator")  # evaluations sample from the published G
        measured["eval_mle"] = (self.time("eval_mle", t.evaluate), "")
        measured["eval_adv"] = (self.time("eval_adv", lambda: t.evaluate(disc=True)), "")
        return measured


def train_bench(args) -> dict:
    """Per-phase seconds, counts, and the projected seconds of a whole run of the config."""
    device = resolve_device(args.device, "--device")  # before anything is built: a clear error
    config = bench_config(args)
    # Default: a thread per usable core, as `seqgan train` (the inline pool takes rollout.torch_threads).
    with torch_threads(args.threads or usable_cores()), \
            tempfile.TemporaryDirectory(prefix="seqgan-bench-train-") as folder:
        timer = PhaseTimer(config, folder, args.repeats, args.batches)
        measured = timer.phases()
        num_train, params = len(timer.train), parameter_counts(timer.learner)
        first = {k: round(v, 6) for k, v in timer.first.items()}
        facts = machine(device)
    how_many = counts(config, num_train)
    phases = {}
    for name in UNITS:
        unit_s, how = measured[name]
        unit_s = round(unit_s, 6)  # the projection is computed from the figures shown
        phases[name] = {"seconds": unit_s, "count": how_many[name], "projected_s": round(unit_s * how_many[name], 3),
                        "unit": UNITS[name], **({"how": how} if how else {})}
    total = sum(p["seconds"] * p["count"] for p in phases.values())
    m, t = config.model, config.train
    return {"bench": "train", "device": str(device), "cuda_graphs": config.learner.cuda_graphs,
            "sizes": {"vocab_size": m.vocab_size, "seq_len": m.seq_len, "batch": config.data.batch_size,
                      "num_train": num_train, "rollouts": config.rollout.num_rollouts,
                      "eval_samples": t.eval_samples, **params},
            "phases": phases, "projected_total_s": round(total, 3), "projected_total_h": round(total / 3600, 3),
            "first_call_s": first, "repeats": args.repeats,
            "not_projected": "checkpoints, the G-only broadcasts of MLE evaluations and extra g_steps, "
                             "and start-up (data, models, a compile's first call: first_call_s)",
            "load_average": [round(x, 2) for x in os.getloadavg()], "machine": facts}


def parameter_counts(learner: Learner) -> dict[str, int]:
    return {f"{name}_params": sum(p.numel() for p in learner.models()[name].parameters())
            for name in ("generator", "discriminator")}


def describe(result: dict) -> str:
    """The table: one row per phase, then the projected total and the machine."""
    lines = [f"seqgan bench train on {result['device']} (cuda_graphs {result['cuda_graphs']}), sizes {result['sizes']}",
             f"{'phase':<17} {'seconds':>10} {'count':>9} {'projected s':>12}  how"]
    for name, phase in result["phases"].items():
        lines.append(f"{name:<17} {phase['seconds']:>10.4f} {phase['count']:>9} {phase['projected_s']:>12.1f}  "
                     f"{phase.get('how', '')}")
    lines.append(f"{'projected total':<17} {'':>10} {'':>9} {result['projected_total_s']:>12.1f}  "
                 f"= {result['projected_total_h']} h; not included: {result['not_projected']}")
    if result["first_call_s"]:
        lines.append(f"first (warm-up) calls, s: {result['first_call_s']}")
    lines.append(f"load average {result['load_average']}; machine: {result['machine']}")
    return "\n".join(lines)
