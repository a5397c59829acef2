"""The reverse LM score (Caccia et al. 2018; Semeniuta et al. 2018): a fresh generator trained by MLE
on a model's samples, scored by its per-token NLL of the real test set. A model that drops part of
the data's variety trains a reverse LM that cannot explain it: the score measures diversity and
coverage where BLEU cannot. One training per temperature, each independent: Ray tasks when asked
for workers, one after another in this process otherwise."""
from __future__ import annotations

import dataclasses

import torch

from seqgan.config import Config


def reverse_lm_score(config: Config, samples: torch.Tensor, test: torch.Tensor) -> float:
    """NLL-test of a generator of the run's sizes and optimiser, from the run's seed, trained on
    `samples` [N, T] for the run's MLE pre-training epochs (train.mle_epochs)."""
    from learner.learner import Learner

    learner = Learner(dataclasses.replace(config, learner=dataclasses.replace(config.learner, device="cpu")))
    learner.load_real_data(samples, test)
    for epoch in range(config.train.mle_epochs):
        learner.mle_epoch(epoch)
    return learner.nll_test()


def reverse_lm_task(config: Config, samples: torch.Tensor, test: torch.Tensor) -> float:
    torch.set_num_threads(1)  # one task per CPU Ray gave it
    return reverse_lm_score(config, samples, test)


def reverse_lm_scores(config: Config, sample_sets: list[torch.Tensor], test: torch.Tensor,
                      workers: int = 0) -> list[float]:
    """reverse_lm_score of each sample set: inline (workers 0) or as Ray tasks on a local Ray of
    `workers` CPUs (or the Ray this process has joined: learner.remote.run_as_tasks)."""
    if any(len(samples) < config.data.batch_size for samples in sample_sets):
        raise ValueError(f"--reverse-lm trains on full batches: --samples must be at least data.batch_size "
                         f"= {config.data.batch_size}, got {min(len(samples) for samples in sample_sets)}")
    if workers == 0:
        return [reverse_lm_score(config, samples, test) for samples in sample_sets]
    from learner.remote import run_as_tasks

    return run_as_tasks(reverse_lm_task, [(config, samples, test) for samples in sample_sets], workers)
