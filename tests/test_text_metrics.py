"""A text run's BLEU and Self-BLEU: the corpus averages of rewards.bleu.corpus on the sentences cut at <eos>."""
import pytest
import torch

from rewards.bleu.corpus import bleu, self_bleu
from rewards.bleu.text_metrics import TextMetrics


@pytest.mark.unit
def test_text_metrics_are_the_corpus_scores_of_the_sentences_before_the_end_token():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 6, (40, 9), generator=generator)  # ids 1..5; 0 is <eos>
    ends = torch.randint(2, 9, (40,), generator=generator)
    tokens[torch.arange(9) >= ends[:, None]] = 0  # a sentence, then <eos> padding
    references, samples = tokens[:25], tokens[25:]
    words = [[[str(t) for t in (row[:row.index(0)] if 0 in row else row)] for row in part.tolist()]
             for part in (references, samples)]
    scores = TextMetrics(references, end_token=0)(samples)
    expected_bleu, expected_self = bleu(words[0], words[1]), self_bleu(words[1])
    assert scores["bleu_hypotheses"] == 15
    for n in (2, 3, 4, 5):
        assert scores[f"bleu_{n}"] == pytest.approx(expected_bleu[n], abs=1e-12)
        assert scores[f"self_bleu_{n}"] == pytest.approx(expected_self[n], abs=1e-12)
    padded = TextMetrics(references, end_token=None)(samples)  # the padding would count as words
    assert padded["bleu_2"] != scores["bleu_2"]
