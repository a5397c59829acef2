"""The memory a training run needs, estimated from its config before anything is allocated, and the
check that it fits this machine (the memory available now, and an address-space limit if one is set).

The estimate counts the large tensors and the rollout budget only: a run it refuses cannot fit, a
run it passes may still need somewhat more. Byte counts follow what the code allocates:
- data: the real sequences (int64 ids), each D round's inputs (real and negatives concatenated)
  and, for sets an oracle samples, the sampling's draws and LSTM rows, all sampled at once;
- models: G and the oracle (same sizes), the rollout policy, D, their gradients, the Adam states
  (MLE and PG for G, one for D), the packed copy of each model sent or checkpointed, and each
  rollout worker's copies of G, the rollout policy and D;
- step: the largest transient of one step: an MLE batch's logits [B, T, V] (with their softmax and
  gradient), an NLL evaluation batch's logits and log-softmax [NLL_BATCH, T, V], D's batch of
  embeddings and conv outputs;
- rollouts: rollout.memory_budget per worker that runs on this machine.
"""
from __future__ import annotations

import resource
from dataclasses import dataclass

from seqgan.config import Config
from seqgan.metrics import NLL_BATCH
from seqgan.sizing import F32, F64, I64

GIB = 1 << 30
# Float32 copies per weight: the weights, their gradient, two Adam moments per optimizer (G has
# MLE and PG, D one), the packed copy; G also has its rollout policy and the oracle's copy.
G_COPIES, D_COPIES, WORKER_COPIES = 1 + 1 + 4 + 1 + 1 + 1, 1 + 1 + 2 + 1, 1
MLE_LOGIT_COPIES, EVAL_LOGIT_COPIES = 3, 2  # logits, log-softmax (and in training their gradient)


def generator_parameters(c: Config) -> int:
    """Embedding, LSTM and output layer of G (and of an oracle of its sizes); biases left out."""
    v, e, h = c.model.vocab_size, c.generator.embed_dim, c.generator.hidden_dim
    return v * e + 4 * h * (e + h) + h * v


def discriminator_parameters(c: Config) -> int:
    """Embedding, convolutions and highway of D; biases and the 2-class output left out."""
    d = c.discriminator
    features = sum(d.num_filters)
    convolutions = d.embed_dim * sum(s * n for s, n in zip(d.filter_sizes, d.num_filters))
    return c.model.vocab_size * d.embed_dim + convolutions + 2 * features * features


@dataclass(frozen=True)
class RunMemory:
    data: int
    models: int
    step: int
    rollouts: int

    @property
    def total(self) -> int:
        return self.data + self.models + self.step + self.rollouts

    def parts(self) -> str:
        return ", ".join(f"{name} {gib(getattr(self, name))}" for name in ("data", "models", "step", "rollouts"))


GROWS_WITH = {  # what each part of RunMemory is a product of, with the values at hand
    "data": lambda c, w: f"data.num_train ({c.data.num_train}) and data.num_test ({c.data.num_test}) x model.seq_len "
                         f"({c.model.seq_len})",
    "models": lambda c, w: f"model.vocab_size ({c.model.vocab_size}) x generator.embed_dim "
                           f"({c.generator.embed_dim}), generator.hidden_dim ({c.generator.hidden_dim}) and "
                           f"discriminator.embed_dim ({c.discriminator.embed_dim})",
    "step": lambda c, w: f"model.seq_len ({c.model.seq_len}) x model.vocab_size ({c.model.vocab_size}) "
                         f"(a batch's logits)",
    "rollouts": lambda c, w: f"rollout.memory_budget ({c.rollout.memory_budget}) x {w} worker(s) on this machine",
}


def gib(count: int) -> str:
    return f"{count / GIB:.1f} GiB"


def sampled_counts(c: Config) -> tuple[int, int]:
    """(training, test) sequences an oracle samples for this config; a file or a corpus is read
    whole (its size is its own), so it counts 0 here."""
    d = c.data
    from_files = d.corpus is not None or d.train_file is not None
    return (0 if from_files else d.num_train), (0 if d.corpus is not None or d.test_file is not None else d.num_test)


def run_memory(c: Config, workers_here: int, learner_here: bool = True) -> RunMemory:
    """Bytes of a run's largest tensors in this process and the rollout workers on this machine.
    `learner_here`: the learner runs here (inline, or an actor of a local cluster)."""
    t, v, batch = c.model.seq_len, c.model.vocab_size, c.data.batch_size
    train, test = sampled_counts(c)
    lstm_row = (6 * c.generator.hidden_dim + c.generator.embed_dim) * F32  # h, c, gates, input embedding
    sampling = max(train, test, c.train.eval_samples) * (t * (F64 + I64) + lstm_row)
    ids = (c.data.num_train + c.data.num_test) * t * I64
    disc_round = c.data.num_train * t * 3 * I64  # negatives, and real + negatives concatenated
    data = ids + max(disc_round, sampling)  # sampling is over before the first D round
    if not learner_here:
        return RunMemory(data, 0, 0, 0)
    g, d = generator_parameters(c) * F32, discriminator_parameters(c) * F32
    models = g * G_COPIES + d * D_COPIES + workers_here * (2 * g + d) * WORKER_COPIES
    logits = max(batch * MLE_LOGIT_COPIES, NLL_BATCH * EVAL_LOGIT_COPIES) * t * v * F32
    disc_batch = batch * t * (c.discriminator.embed_dim + sum(c.discriminator.num_filters)) * F32 * 2
    return RunMemory(data, models, max(logits, disc_batch), workers_here * c.rollout.memory_budget)


def memory_limit() -> tuple[int, str]:
    """(bytes this process may still take, what bounds it): the memory available now, or less
    under an address-space limit (ulimit -v)."""
    import psutil

    available = psutil.virtual_memory().available
    limit, what = available, f"the {gib(available)} of memory available on this machine"
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        left = max(0, soft - psutil.Process().memory_info().vms)
        if left < limit:
            limit, what = left, f"the {gib(left)} left under this process's address-space limit (ulimit -v)"
    return limit, what


def require_fits(c: Config, workers_here: int, learner_here: bool = True) -> None:
    """A ValueError naming the sizes when the run's estimated memory cannot fit: before any of it
    is allocated, rather than an allocator traceback (or the OOM killer) later."""
    need = run_memory(c, workers_here, learner_here)
    limit, what = memory_limit()
    if need.total > limit:
        largest = max(GROWS_WITH, key=lambda part: getattr(need, part))
        raise ValueError(f"this run needs at least {gib(need.total)} of memory ({need.parts()}), more than {what}; "
                         f"the largest part, {largest}, grows with {GROWS_WITH[largest](c, workers_here)}: "
                         "lower them (nothing was allocated or written)")
