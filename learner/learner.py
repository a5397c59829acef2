"""The central learner: owns G, the rollout policy and D with their optimizers, does the MLE,
policy-gradient and discriminator updates, and packs weights for broadcast."""
from __future__ import annotations

import contextlib
import functools
import os

import torch
import torch.nn.functional as F

from actors.sync import DISCRIMINATOR, GENERATOR, MODELS, REFERENCES, ROLLOUT, Versions, pack_references
from learner.finite import nonfinite, read, require_finite, require_rewards
from learner.methods import method_for
from seqgan.config import Config
from seqgan.data.tokens import batches
from seqgan.endings import past_end
from seqgan.metrics import nll_per_token
from seqgan.models import build_discriminator, build_generator
from seqgan.packing import PackedWeights, load_into, pack_state
from seqgan.scheduled_sampling import scheduled_sampling_logits
from seqgan.seeding import derive_seed, uniforms


def resolve_device(name: str, key: str = "learner.device") -> torch.device:
    """auto | cpu | cuda -> a device; asking for cuda without one is bad input, named by `key`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{key} is 'cuda' but no CUDA device is visible")
    return torch.device(name)


@contextlib.contextmanager
def fixed_order_sums(enabled: bool):
    """While enabled, kernels sum in a fixed order: a GPU's atomic-add backward kernels (embedding,
    some convolutions) are swapped for deterministic ones, so training repeats bit for bit."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(enabled or previous)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def updates_in_fixed_order(method):
    """Learner updates run under `fixed_order_sums` when `learner.deterministic` is set."""
    @functools.wraps(method)
    def update(self, *args, **kwargs):
        with fixed_order_sums(self.config.learner.deterministic):
            return method(self, *args, **kwargs)
    return update


def policy_gradient_loss(log_probs: torch.Tensor, rewards: torch.Tensor,
                         ended: torch.Tensor | None = None) -> torch.Tensor:
    """-sum_{b,t} log G(y_t | Y_1:t-1) * Q(Y_1:t-1, y_t), summed over batch and time as the paper's
    code; rewards [B, T] are constants. `ended` [B, T] bool (seqgan.endings.past_end) drops the
    positions after each sequence's first end token. Still a sum, not a mean over the tokens kept:
    a batch where nothing ends early gives exactly the fixed-length loss, and generator.grad_clip
    keeps its scale."""
    if ended is not None:
        log_probs = log_probs.masked_fill(ended, 0.0)
    return -(log_probs * rewards.detach()).sum()


def mle_loss(logits: torch.Tensor, tokens: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
    """Mean token NLL of tokens [B, T] under teacher-forced logits [B, T, V]. With `kept` [B, T] bool
    (the positions up to each sequence's first end token, ~past_end) the logits are [K, V] at the K
    kept positions only (Generator.kept_logits) and the mean is over them, the end token included:
    per-token NLL then means the same as at fixed length, whatever the padding."""
    targets = tokens if kept is None else tokens[kept]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class Learner:
    def __init__(self, config: Config):
        self.config = config
        self.method = method_for(config)
        self.device = resolve_device(config.learner.device)
        if config.learner.deterministic:  # cuBLAS reads it when it makes its handle: before any GPU matmul
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.manual_seed(derive_seed(config.train.seed, "init"))
        self.generator = build_generator(config.model, config.generator).init_normal_(config.generator.init_std)
        self.discriminator = build_discriminator(config.model, config.discriminator).init_paper_()
        self.rollout = build_generator(config.model, config.generator)
        self.rollout.load_state_dict(self.generator.state_dict())
        for model in (self.generator, self.discriminator, self.rollout):
            model.to(self.device)
        self.rollout.requires_grad_(False)
        lr = config.generator.lr
        # Separate Adam states for MLE and PG, as the paper's code. Fused: one kernel per step instead
        # of a pass per tensor and operation (docs/benchmarks.md: D training about 25% faster on a CPU).
        self.optimizers = {
            "mle": torch.optim.Adam(self.generator.parameters(), lr=lr, fused=True),
            "pg": torch.optim.Adam(self.generator.parameters(), lr=lr, fused=True),
            "disc": torch.optim.Adam(self.discriminator.parameters(), lr=config.discriminator.lr, fused=True),
        }
        self.versions = Versions()
        self.last_update: tuple[str, int | None] = ("init", None)  # (phase, step): named if weights go bad
        self.train_data = self.test_data = None
        self.disc_train_forward = self._disc_train_forward(config)

    def _disc_train_forward(self, config: Config):
        """D's forward for training. On a GPU a batch-64 step of D is bound by kernel launches, not
        arithmetic; as CUDA graphs (torch.compile's reduce-overhead mode) each step is one replay
        (docs/benchmarks.md). Scoring stays eager."""
        if not config.learner.cuda_graphs:
            return self.discriminator
        if self.device.type != "cuda":
            raise ValueError(f"learner.cuda_graphs needs the learner on a CUDA device; learner.device "
                             f"{config.learner.device!r} resolved to {self.device.type!r}")
        return torch.compile(self.discriminator, mode="reduce-overhead", dynamic=False)

    def restart(self) -> None:
        """A fresh learner in place of this one: the driver then restores it from a checkpoint."""
        self.__init__(self.config)

    def load_real_data(self, train: torch.Tensor, test: torch.Tensor) -> None:
        """The real sequences [N, T] / [M, T], sent once (not with every MLE epoch or D round)."""
        self.train_data, self.test_data = train, test

    def models(self) -> dict[str, torch.nn.Module]:
        return dict(zip(MODELS, (self.generator, self.rollout, self.discriminator)))

    # -- weights --------------------------------------------------------------------------
    def pack(self, name: str) -> PackedWeights:
        """Every broadcast and checkpoint packs here: non-finite weights never leave the learner."""
        state = self.models()[name].state_dict()
        [bad] = read(nonfinite(state.values()))  # the copy to the host below waits for the device anyway
        require_finite(*self.last_update, counts={f"{name} weights": bad})
        return pack_state(state, name, self.versions.of(name))

    def publish(self, name: str) -> tuple[int, PackedWeights]:
        """The current version of `name` and its payload (actors/sync.py)."""
        version = self.versions.of(name)
        if name == REFERENCES:  # the training data, for pg_bleu's rewards on the workers
            return version, pack_references(self.train_data, version)
        return version, self.pack(name)

    def continue_versions(self, published: dict[str, int]) -> None:
        """Number the next versions past those the workers hold (after a restore)."""
        self.versions.continue_past(published)

    # -- G ------------------------------------------------------------------------------
    def _generator_step(self, loss: torch.Tensor, optimizer: str) -> torch.Tensor:
        """One update of G; returns the gradient's total norm (before clipping), not read yet."""
        opt = self.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.generator.parameters(), self.config.generator.grad_clip)
        opt.step()
        return norm

    def _require_finite_generator(self, phase: str, step: int | None, loss: torch.Tensor,
                                  norm: torch.Tensor) -> float:
        """Reads the loss, the gradient norm and G's bad weights in one sync, and returns the loss.
        Over an epoch loss and norm are sums: finite exactly when each term is (norms are >= 0)."""
        loss_value, norm_value, bad = read(loss, norm, nonfinite(self.generator.parameters()))
        require_finite(phase, step, {"g_loss": loss_value, "the generator's gradient norm": norm_value},
                       {"generator weights": bad})
        return loss_value

    @updates_in_fixed_order
    def mle_epoch(self, epoch: int, keep: float = 1.0) -> float:
        """One epoch of maximum likelihood over full batches; mean token NLL. Each input is the real
        previous token with probability `keep` (1: teacher forcing; below 1: scheduled sampling)."""
        self.generator.train()
        self.last_update = ("mle", epoch)
        shuffle = torch.Generator().manual_seed(derive_seed(self.config.train.seed, "mle", epoch))
        # Summed on the device: no sync per batch.
        total, norms, count = torch.zeros((), device=self.device), torch.zeros((), device=self.device), 0
        for batch in batches(self.train_data, self.config.data.batch_size, shuffle):
            batch = batch.to(self.device)
            ended = past_end(batch, self.config.model.end_token)
            kept = None if ended is None else ~ended  # [B, T]: no work past the end
            logits = self._input_logits(batch, keep, epoch, count, kept)  # [B, T, V], or [K, V] if kept
            loss = mle_loss(logits, batch, kept)
            norms += self._generator_step(loss, "mle")
            total += loss.detach()
            count += 1
        total_value = self._require_finite_generator("mle", epoch, total, norms)
        self.rollout.load_state_dict(self.generator.state_dict())
        self.versions.bump(GENERATOR, ROLLOUT)
        return total_value / max(count, 1)

    def _input_logits(self, batch: torch.Tensor, keep: float, epoch: int, index: int,
                      kept: torch.Tensor | None) -> torch.Tensor:
        """G's logits [B, T, V] for batch [B, T], its inputs real with probability `keep`; [K, V] at
        the `kept` positions only when given."""
        if keep >= 1.0:
            return self.generator(batch) if kept is None else self.generator.kept_logits(batch, kept)
        draws = uniforms(derive_seed(self.config.train.seed, "ss", epoch, index), (2, *batch.shape), self.device)
        logits = scheduled_sampling_logits(self.generator, batch, draws[0] < keep, draws[1])
        return logits if kept is None else logits[kept]

    @updates_in_fixed_order
    def pg_step(self, samples: torch.Tensor, rewards: torch.Tensor, step: int | None = None) -> float:
        """One policy-gradient step on samples [B, T] with rewards [B, T]; `step` names it in errors."""
        require_rewards(rewards, "pg", step)
        self.generator.train()
        self.last_update = ("pg", step)
        samples = samples.to(self.device)
        log_probs = self.generator.log_probs(samples)  # [B, T]
        ended = past_end(samples, self.config.model.end_token)  # [B, T] or None
        loss = policy_gradient_loss(log_probs, rewards.to(self.device), ended)
        norm = self._generator_step(loss, "pg")
        loss_value = self._require_finite_generator("pg", step, loss.detach(), norm)
        self.versions.bump(GENERATOR)
        return loss_value

    def update_rollout_policy(self) -> None:
        """rollout <- rate * rollout + (1 - rate) * G for the LSTM and output layer; the embedding is
        copied, as in the paper's released code. Rate 0 copies G (the paper)."""
        rate = self.config.rollout.update_rate
        with torch.no_grad():
            for (name, mine), theirs in zip(self.rollout.named_parameters(), self.generator.parameters()):
                if name.startswith("embedding."):
                    mine.copy_(theirs)
                else:
                    mine.mul_(rate).add_(theirs, alpha=1.0 - rate)
        self.versions.bump(ROLLOUT)

    # -- D ------------------------------------------------------------------------------
    @updates_in_fixed_order
    def train_discriminator(self, negatives: torch.Tensor, key: int) -> dict:
        """`disc_epochs` epochs over the real data (label 1) and negatives (label 0); loss and accuracy."""
        cfg, positives = self.config, self.train_data
        self.last_update = ("disc", key)
        torch.manual_seed(derive_seed(cfg.train.seed, "disc", key))  # dropout draws
        shuffle = torch.Generator().manual_seed(derive_seed(cfg.train.seed, "disc", key, 1))
        # On the device once per round: a copy per batch from pageable memory would sync every step.
        tokens = torch.cat([positives, negatives]).to(self.device)
        labels = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))]).long().to(self.device)
        self.discriminator.train()
        opt = self.optimizers["disc"]
        total_loss = torch.zeros((), device=self.device)  # summed on the device: no sync per batch
        correct, seen = torch.zeros((), dtype=torch.long, device=self.device), 0
        bad_scores = torch.zeros((), dtype=torch.long, device=self.device)
        for _ in range(cfg.train.disc_epochs):
            # Shuffled by a CPU generator: the same order on every device.
            order = torch.randperm(len(tokens), generator=shuffle).to(self.device)
            for start in range(0, len(order), cfg.data.batch_size):
                idx = order[start:start + cfg.data.batch_size]
                x, y = tokens[idx], labels[idx]
                logits = self.disc_train_forward(x)
                loss = F.cross_entropy(logits, y) + cfg.discriminator.l2_reg * self.discriminator.l2_loss()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_loss += loss.detach() * len(idx)
                correct += (logits.argmax(-1) == y).sum()
                bad_scores += nonfinite([logits])
                seen += len(idx)
        self.discriminator.eval()
        # No gradient norm for D (it is not clipped): computing one would add kernels to every step
        # of the hot loop (outside its CUDA graph). A NaN or infinite gradient needs no norm to be
        # seen: Adam turns it into a NaN weight at that step, and the NaN stays in its moments, so
        # the weight count at the end of the round catches it.
        loss_sum, right, bad_scores, bad_weights = read(total_loss, correct, bad_scores,
                                                        nonfinite(self.discriminator.parameters()))
        require_finite("disc", key, {"d_loss": loss_sum / seen},
                       {"D's scores": bad_scores, "discriminator weights": bad_weights})
        self.versions.bump(DISCRIMINATOR)
        return {"d_loss": loss_sum / seen, "d_acc": right / seen}

    @torch.no_grad()
    def real_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """D(Y) [B] in eval mode: the reward of the last token."""
        self.discriminator.eval()
        return self.discriminator.real_prob(tokens.to(self.device)).cpu()

    def final_rewards(self, samples: torch.Tensor) -> torch.Tensor:
        """The reward of the last token [B] of samples [B, T], as the run's method defines it."""
        return self.method.final_rewards(self, samples)

    @torch.no_grad()
    def disc_heldout(self, negatives: torch.Tensor) -> dict:
        """D on data it never trained on: the held-out real sequences vs fresh G samples [N, T].
        Training accuracy (with dropout, on memorisable positives) can look good while D fails to
        generalise; then its rewards carry no signal about the real distribution."""
        real, fake = self.real_prob(self.test_data), self.real_prob(negatives)
        correct = (real > 0.5).sum().item() + (fake <= 0.5).sum().item()
        return {"d_real_heldout": real.mean().item(), "d_fake_heldout": fake.mean().item(),
                "d_acc_heldout": correct / (len(real) + len(fake))}

    def nll_test(self) -> float:
        """G's per-token NLL on held-out real data (tokens after an end token left out)."""
        return nll_per_token(self.generator, self.test_data, end_token=self.config.model.end_token)

    def torch_threads(self) -> int:
        """The threads the learner's CPU kernels run with (summary.json records them)."""
        return torch.get_num_threads()

    # -- checkpoints ----------------------------------------------------------------------
    def state(self) -> dict:
        """Everything a checkpoint needs: packed models, optimizer states, RNG states, versions.
        (Every draw of a step is seeded from the run seed and the step, so the RNG states matter
        only between seeded sections; they are kept so that stays true.)"""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"models": {n: self.pack(n) for n in self.models()},
                "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "rng": rng, "versions": dict(self.versions)}

    def load_state(self, state: dict) -> None:
        for name, packed in state["models"].items():
            load_into(self.models()[name], packed)
        for name, opt_state in state["optimizers"].items():
            self.optimizers[name].load_state_dict(opt_state)
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.versions.update(state["versions"])
