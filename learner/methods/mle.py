"""`mle`, the paper's MLE baseline: each adversarial iteration is one more epoch of maximum likelihood
on the same schedule (and evaluation) as SeqGAN's."""
from __future__ import annotations

from actors.sync import GENERATOR
from learner.methods.base import Method


class Mle(Method):
    name = "mle"

    def keep(self, iteration: int) -> float:
        """The probability that an input is the real previous token (1: teacher forcing)."""
        return 1.0

    def logged(self, keep: float) -> dict:
        return {}

    def iteration(self, trainer, iteration: int) -> dict:
        keep = self.keep(iteration)
        with trainer.timed("mle"):  # epochs numbered past pre-training's
            loss = trainer.learner.mle_epoch(self.config.train.mle_epochs + iteration, keep)
        trainer.broadcast(GENERATOR)
        return {"g_loss": loss, **self.logged(keep)}
