"""The training methods (`train.method`), one module each; registering a method is one line here
(and its name in seqgan.config.METHODS, the schema's allowed values)."""
from __future__ import annotations

from learner.methods.adversarial import SeqGan
from learner.methods.base import Method
from learner.methods.mle import Mle
from learner.methods.pg_bleu import PgBleu
from learner.methods.scheduled_sampling import ScheduledSampling
from seqgan.config import Config

REGISTRY: dict[str, type[Method]] = {m.name: m for m in (SeqGan, Mle, ScheduledSampling, PgBleu)}


def method_for(config: Config) -> Method:
    return REGISTRY[config.train.method](config)
