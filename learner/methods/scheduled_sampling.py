"""`ss`, the paper's scheduled-sampling baseline (Bengio et al., 2015): each adversarial iteration is
one MLE epoch whose inputs are the real previous token with a probability decaying linearly from 1
to `train.ss_final_keep`, else G's own sample."""
from __future__ import annotations

from learner.methods.mle import Mle
from seqgan.scheduled_sampling import keep_probability


class ScheduledSampling(Mle):
    name = "ss"

    def keep(self, iteration: int) -> float:
        t = self.config.train
        return keep_probability(iteration, t.adv_iterations, t.ss_final_keep)

    def logged(self, keep: float) -> dict:
        return {"ss_keep": round(keep, 6)}
