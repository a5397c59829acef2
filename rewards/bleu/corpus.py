"""Corpus BLEU and Self-BLEU: the mean of the sentence scores of rewards.bleu.score, scored in chunks
on a process pool when asked. The mean is summed in sentence order, so it is the same number
whatever the number of workers."""
from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from rewards.bleu.score import BleuScorer, SelfBleuScorer, Sentence

DEFAULT_ORDERS = (2, 3, 4, 5)  # the BLEU-n the text-GAN tables report
CHUNKS_PER_WORKER = 4  # a few chunks each, so one slow chunk does not leave the others idle
MIN_CHUNK = 256  # sentences; smaller corpora are scored in this process

_worker_scorer: BleuScorer | SelfBleuScorer | None = None  # set once in each pool process


def bleu(references: Sequence[Sentence], hypotheses: Sequence[Sentence],
         orders: Sequence[int] = DEFAULT_ORDERS, workers: int = 1) -> dict[int, float]:
    """{n: mean over hypotheses of sentence BLEU-n against all the references}."""
    return mean_scores(BleuScorer(references, hypotheses, orders), workers)


def self_bleu(sentences: Sequence[Sentence], orders: Sequence[int] = DEFAULT_ORDERS,
              workers: int = 1) -> dict[int, float]:
    """{n: mean over sentences of BLEU-n against the other sentences} (rewards.bleu.score.SELF_BLEU_VARIANT)."""
    return mean_scores(SelfBleuScorer(sentences, orders), workers)


def mean_scores(scorer: BleuScorer | SelfBleuScorer, workers: int = 1) -> dict[int, float]:
    if not scorer.count:
        raise ValueError("BLEU needs at least one hypothesis sentence")
    rows = sentence_scores(scorer, workers)
    return {n: sum(row[column] for row in rows) / len(rows) for column, n in enumerate(scorer.orders)}


def sentence_scores(scorer: BleuScorer | SelfBleuScorer, workers: int = 1) -> list[list[float]]:
    """One row per hypothesis, in order: its score for each of scorer.orders."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    size = max(MIN_CHUNK, -(-scorer.count // (workers * CHUNKS_PER_WORKER)))
    if workers == 1 or scorer.count <= size:
        return [scorer.score(index) for index in range(scorer.count)]
    bounds = [(start, min(start + size, scorer.count)) for start in range(0, scorer.count, size)]
    # fork: the workers inherit the tables instead of unpickling a copy each (spawn elsewhere).
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(min(workers, len(bounds)), mp_context=context,
                             initializer=_adopt, initargs=(scorer,)) as pool:
        return [row for chunk in pool.map(_score_chunk, bounds) for row in chunk]


def _adopt(scorer) -> None:
    global _worker_scorer
    _worker_scorer = scorer


def _score_chunk(bounds: tuple[int, int]) -> list[list[float]]:
    return [_worker_scorer.score(index) for index in range(*bounds)]
