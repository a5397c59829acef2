"""BLEU-n and Self-BLEU-n of tokenized sentences, equal to NLTK's sentence_bleu averaged over hypotheses.

The published text-GAN tables (Texygen, TextGAN-PyTorch) score every generated sentence with
`nltk.translate.bleu_score.sentence_bleu(references, hypothesis, (1/n,) * n,
smoothing_function=SmoothingFunction().method1)` and average. Called per hypothesis, NLTK recounts
every reference: hours for 10,000 x 10,000. Here the references are counted once into tables, so a
hypothesis costs O(its length * max order), and the arithmetic is NLTK's (nltk 3.8-3.10), step by step:

- modified precision p_k = sum over the hypothesis' k-grams of min(count, the k-gram's largest
  count in any one reference) / max(1, number of hypothesis k-grams); fewer than k tokens: 0 / 1.
- no unigram matches (the empty hypothesis included): the score is 0 for every order.
- method1 smoothing: a zero numerator becomes EPSILON, so p_k = 0.1 / denominator.
- brevity penalty with r = the reference length nearest the hypothesis length, ties to the shorter:
  1 if the hypothesis is longer than r, else exp(1 - r / length).
- BLEU-n = penalty * exp(fsum((1/n) * log p_k for k = 1..n)).

No nltk import: the tests compare against nltk, the library does not need it.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence

EPSILON = 0.1  # SmoothingFunction().method1's numerator for a precision with no matches
SELF_BLEU_VARIANT = "leave-one-out (Texygen): each sentence scored against all the others, not itself"

Sentence = Sequence[str]


def ngrams(tokens: Sentence, order: int) -> Counter:
    """The sentence's k-grams (tuples of `order` tokens) and their counts; none if it is shorter."""
    return Counter(zip(*(tokens[start:] for start in range(order))))


def check_orders(orders: Sequence[int]) -> tuple[int, ...]:
    orders = tuple(orders)
    if not orders or any(not isinstance(n, int) or n < 1 for n in orders):
        raise ValueError(f"BLEU orders must be positive integers, got {orders!r}")
    return orders


def closest_length(lengths: list[int], length: int, skip_own: bool = False) -> int:
    """NLTK's closest_ref_length over the sorted distinct reference lengths: the nearest to
    `length`, ties to the shorter. skip_own: one sentence of exactly `length` (the hypothesis
    itself, for Self-BLEU) is not a reference, and it was the only one of that length."""
    at = bisect_left(lengths, length)
    exact = at < len(lengths) and lengths[at] == length
    if exact and not skip_own:
        return length
    above_at = at + 1 if exact else at
    above = lengths[above_at] if above_at < len(lengths) else None
    below = lengths[at - 1] if at > 0 else None
    if above is None or (below is not None and length - below <= above - length):
        return below
    return above


def bleu_from_matches(matches: list[int], length: int, ref_length: int, orders: Sequence[int]) -> list[float]:
    """BLEU-n for each n in `orders`, from the clipped match counts of orders 1..max(orders)."""
    if not matches[0]:  # NLTK: no unigram matches -> 0, whatever the smoothing
        return [0.0] * len(orders)
    penalty = 1.0 if length > ref_length else math.exp(1 - ref_length / length)
    logs = []  # log p_k, k = 1..max order
    for order, matched in enumerate(matches, start=1):
        total = max(1, length - order + 1)
        logs.append(math.log(matched / total if matched else EPSILON / total))
    return [penalty * math.exp(math.fsum((1.0 / n) * log for log in logs[:n])) for n in orders]


class ReferenceTable:
    """One reference set, counted once: per order k, each k-gram's largest count in any one
    reference, and the sorted distinct reference lengths. Scores any sentence (words, or token ids
    as tuples of ints) without counting the references again."""

    def __init__(self, references: Sequence[Sentence], orders: Sequence[int]):
        if not references:
            raise ValueError("BLEU needs at least one reference sentence")
        self.orders = check_orders(orders)
        self.max_counts: list[dict[tuple, int]] = [{} for _ in range(max(self.orders))]
        for reference in references:
            for order, table in enumerate(self.max_counts, start=1):
                for gram, count in ngrams(reference, order).items():
                    if count > table.get(gram, 0):
                        table[gram] = count
        self.lengths = sorted({len(reference) for reference in references})

    def score(self, hypothesis: Sentence) -> list[float]:
        """BLEU-n of `hypothesis` against every reference, one per order."""
        matches = [sum(min(count, table.get(gram, 0)) for gram, count in ngrams(hypothesis, order).items())
                   for order, table in enumerate(self.max_counts, start=1)]
        ref_length = closest_length(self.lengths, len(hypothesis))
        return bleu_from_matches(matches, len(hypothesis), ref_length, self.orders)


class BleuScorer:
    """Hypotheses against one reference set (its ReferenceTable)."""

    def __init__(self, references: Sequence[Sentence] | ReferenceTable, hypotheses: Sequence[Sentence],
                 orders: Sequence[int]):
        """`references` may be a table counted before (then `orders` must be among its orders)."""
        self.table = references if isinstance(references, ReferenceTable) else ReferenceTable(references, orders)
        self.orders = self.table.orders
        self.hypotheses = hypotheses

    @property
    def count(self) -> int:
        return len(self.hypotheses)

    def score(self, index: int) -> list[float]:
        """BLEU-n of hypothesis `index`, one per order."""
        return self.table.score(self.hypotheses[index])


class SelfBleuScorer:
    """Each sentence against all the other sentences of the same set (Texygen's SelfBleu).

    Leaving one sentence out changes a k-gram's largest count only when that sentence holds it, so
    the table keeps, per k-gram, (largest count, the sentence holding it, largest count in any
    other sentence); equal largest counts in two sentences make the runner-up equal to the top.
    Lengths are counted, so a sentence's own length drops out only when no other has it."""

    def __init__(self, sentences: Sequence[Sentence], orders: Sequence[int]):
        if len(sentences) < 2:
            raise ValueError(f"Self-BLEU needs at least 2 sentences, got {len(sentences)}")
        self.orders = check_orders(orders)
        self.hypotheses = sentences
        self.tops: list[dict[tuple, tuple[int, int, int]]] = [{} for _ in range(max(self.orders))]
        for index, sentence in enumerate(sentences):
            for order, table in enumerate(self.tops, start=1):
                for gram, count in ngrams(sentence, order).items():
                    _keep_top_two(table, gram, count, index)
        self.length_counts = Counter(len(sentence) for sentence in sentences)
        self.lengths = sorted(self.length_counts)

    @property
    def count(self) -> int:
        return len(self.hypotheses)

    def score(self, index: int) -> list[float]:
        """Self-BLEU-n of sentence `index` (the others as references), one per order."""
        sentence = self.hypotheses[index]
        matches = [sum(min(count, _count_in_others(table[gram], index))
                       for gram, count in ngrams(sentence, order).items())
                   for order, table in enumerate(self.tops, start=1)]
        length = len(sentence)
        ref_length = closest_length(self.lengths, length, skip_own=self.length_counts[length] == 1)
        return bleu_from_matches(matches, length, ref_length, self.orders)


def _keep_top_two(table: dict, gram: tuple, count: int, index: int) -> None:
    """Fold sentence `index`'s count of `gram` into (top, holder, runner_up)."""
    entry = table.get(gram)
    if entry is None:
        table[gram] = (count, index, 0)
    elif count > entry[0]:
        table[gram] = (count, index, entry[0])
    elif count > entry[2]:
        table[gram] = (entry[0], entry[1], count)


def _count_in_others(entry: tuple[int, int, int], index: int) -> int:
    top, holder, runner_up = entry
    return runner_up if holder == index else top
