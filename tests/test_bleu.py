"""BLEU and Self-BLEU (rewards/bleu*.py) against nltk's sentence_bleu, and `seqgan bleu`."""
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learner.cli import main
from rewards.bleu.score import SELF_BLEU_VARIANT, BleuScorer, SelfBleuScorer, closest_length
from rewards.bleu.corpus import bleu, self_bleu, sentence_scores
from seqgan.errors import BadFileError
from seqgan.data.sentences import read_sentences, sample_sentences, tokenizer

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
COCO = ROOT.parent / "shared/data/coco"
ORDERS = (1, 2, 3, 4, 5)
TOLERANCE = 1e-9


def nltk_scores(references, hypothesis, orders=ORDERS):
    """What Texygen / TextGAN-PyTorch call per hypothesis, for each order."""
    smoothing = nltk_bleu.SmoothingFunction().method1
    return [nltk_bleu.sentence_bleu(references, hypothesis, tuple(1. / n for _ in range(n)),
                                    smoothing_function=smoothing) for n in orders]


def assert_close(mine, theirs):
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE), (mine, theirs)


# Few words and short sentences: many shared n-grams, repeats, ties in length, sentences shorter than n.
sentence = st.lists(st.sampled_from("abcd"), max_size=8)
corpus = st.lists(sentence, min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(references=corpus, hypotheses=corpus)
def test_bleu_equals_nltk_sentence_by_sentence(references, hypotheses):
    scorer = BleuScorer(references, hypotheses, ORDERS)
    for index, hypothesis in enumerate(hypotheses):
        assert_close(scorer.score(index), nltk_scores(references, hypothesis))


@settings(max_examples=150, deadline=None)
@given(sentences=st.lists(sentence, min_size=2, max_size=9), duplicate=st.booleans())
def test_self_bleu_equals_nltk_against_the_others(sentences, duplicate):
    if duplicate:
        sentences = sentences + [list(sentences[0])]
    scorer = SelfBleuScorer(sentences, ORDERS)
    for index, hypothesis in enumerate(sentences):
        others = sentences[:index] + sentences[index + 1:]
        assert_close(scorer.score(index), nltk_scores(others, hypothesis))


@pytest.mark.parametrize("references, hypothesis", [
    ([["a", "b", "c"]], []),  # empty hypothesis: 0
    ([["a", "b", "c"]], ["x", "y", "z"]),  # no unigram match: 0 even with smoothing
    ([["a", "b", "c", "d"]], ["a"]),  # shorter than n: p_k = 0.1 / 1 for k > 1, brevity penalty
    ([["a", "b"], ["a", "b", "c", "d", "e", "f"]], ["a", "b", "c", "d"]),  # equidistant lengths: the shorter
    ([[], ["a", "b", "c"]], ["a"]),  # an empty reference is length 0
    ([["a", "a", "b"], ["a", "a", "a"]], ["a", "a", "a", "a", "b"]),  # clipping at the max over references
])
def test_edge_cases_equal_nltk(references, hypothesis):
    assert_close(BleuScorer(references, [hypothesis], ORDERS).score(0), nltk_scores(references, hypothesis))


def test_empty_hypothesis_and_no_match_score_zero():
    scores = bleu([["a", "b"]], [[], ["z"]], orders=(2, 3))
    assert scores == {2: 0.0, 3: 0.0}


def test_closest_length_ties_to_the_shorter_and_skips_its_own():
    assert closest_length([2, 6], 4) == 2
    assert closest_length([3, 6], 4) == 3 and closest_length([3, 5], 4) == 3 and closest_length([4], 4) == 4
    assert closest_length([2, 4, 5], 4, skip_own=True) == 5  # distance 1 beats 2
    assert closest_length([3, 4, 5], 4, skip_own=True) == 3  # a tie: the shorter
    assert closest_length([1, 4], 4, skip_own=True) == 1


def test_corpus_means_equal_nltk_average_and_do_not_depend_on_workers():
    words = "the a dog cat sits on mat runs big small".split()
    sentences = [[words[(i * 7 + k * k * 3 + i // 5) % len(words)] for k in range(3 + i % 9)] for i in range(700)]
    references, hypotheses = sentences[:300], sentences[300:]
    one = bleu(references, hypotheses, (2, 3, 4, 5), workers=1)
    assert bleu(references, hypotheses, (2, 3, 4, 5), workers=3) == one
    expected = [nltk_scores(references, h, (2, 3, 4, 5)) for h in hypotheses[:40]]
    scorer = BleuScorer(references, hypotheses[:40], (2, 3, 4, 5))
    assert_close([s for row in sentence_scores(scorer) for s in row], [s for row in expected for s in row])
    mean_of_nltk = {n: sum(row[c] for row in expected) / len(expected) for c, n in enumerate((2, 3, 4, 5))}
    assert_close(list(bleu(references, hypotheses[:40]).values()), list(mean_of_nltk.values()))
    assert self_bleu(hypotheses, workers=1) == self_bleu(hypotheses, workers=2)


def test_too_few_sentences_are_errors():
    with pytest.raises(ValueError, match="at least 2 sentences"):
        self_bleu([["a"]])
    with pytest.raises(ValueError, match="at least one reference"):
        bleu([], [["a"]])
    with pytest.raises(ValueError, match="at least one hypothesis"):
        bleu([["a"]], [])
    with pytest.raises(ValueError, match="positive integers"):
        bleu([["a"]], [["a"]], orders=(0, 2))


def coco_lines(name, count):
    path = COCO / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path.read_text(encoding="utf-8").split("\n")[:count]


def test_coco_sample_equals_nltk():
    split = tokenizer("word")
    references = [split(line) for line in coco_lines("test.txt", 1500)]
    hypotheses = [split(line) for line in coco_lines("train.txt", 300)]
    scorer = BleuScorer(references, hypotheses, (2, 3, 4, 5))
    for index in range(0, 300, 20):
        assert_close(scorer.score(index), nltk_scores(references, hypotheses[index], (2, 3, 4, 5)))
    own = SelfBleuScorer(hypotheses, (2, 3, 4, 5))
    for index in range(0, 300, 20):
        others = hypotheses[:index] + hypotheses[index + 1:]
        assert_close(own.score(index), nltk_scores(others, hypotheses[index], (2, 3, 4, 5)))


def test_nltk_tokenizer_is_word_tokenize_of_the_line():
    from nltk.tokenize import word_tokenize

    split = tokenizer("word")
    for line in ["several people skiing on a trail at night.", "Mr. Smith's dog, isn't it?", "a dog. a cat."]:
        assert split(line) == word_tokenize(line, preserve_line=True)
    assert split("a dog. a cat.") == ["a", "dog.", "a", "cat", "."]  # the documented difference from punkt
    assert tokenizer("space")(" a  b\tc ") == ["a", "b", "c"]


def test_read_sentences_keeps_blank_lines_and_names_bad_files(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes(b"a b\n\nc d e\r\n")
    assert read_sentences(path, "hypothesis file") == [["a", "b"], [], ["c", "d", "e"]]
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(BadFileError, match="empty.txt.*no sentences"):
        read_sentences(tmp_path / "empty.txt", "reference file")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(BadFileError, match="latin.txt.*not UTF-8"):
        read_sentences(tmp_path / "latin.txt", "reference file")


def test_sample_is_seeded_and_keeps_file_order():
    items = list(range(100))
    drawn = sample_sentences(items, 10, seed=4)
    assert drawn == sample_sentences(items, 10, seed=4) == sorted(drawn) and len(set(drawn)) == 10
    assert drawn != sample_sentences(items, 10, seed=5)
    assert sample_sentences(items, 500, seed=4) == items


def test_cli_prints_scores_counts_and_the_variant(tmp_path, capsys):
    refs, hyps = tmp_path / "refs.txt", tmp_path / "hyps.txt"
    refs.write_text("a dog sits on a mat\nthe cat runs\na big dog runs\n")
    hyps.write_text("a dog runs\nthe cat sits on a mat\n\n")
    assert main(["bleu", "--refs", str(refs), str(hyps), "--self", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    parsed = [line.split() for line in hyps.read_text().split("\n")[:3]]
    expected = bleu([line.split() for line in refs.read_text().splitlines()], parsed)
    assert result["bleu"] == {str(n): score for n, score in expected.items()}
    assert result["self_bleu"] == {str(n): score for n, score in self_bleu(parsed).items()}
    assert result["hypotheses"] == 3 and result["empty_hypotheses"] == 1 and result["references"] == 3
    assert result["self_bleu_variant"] == SELF_BLEU_VARIANT

    assert main(["bleu", "--refs", str(refs), str(hyps), "--self", "--max-n", "3"]) == 0
    text = capsys.readouterr().out
    assert "BLEU-2:" in text and "BLEU-3:" in text and "BLEU-4" not in text
    assert "Self-BLEU-3:" in text and SELF_BLEU_VARIANT in text and "references: 3" in text


def test_cli_bad_input_exits_2(tmp_path, capsys):
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa\n")
    (tmp_path / "one.txt").write_text("a b\n")
    assert main(["bleu", "--self", str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt" in capsys.readouterr().err
    assert main(["bleu", "--refs", str(tmp_path / "missing.txt"), str(tmp_path / "one.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["bleu", "--self", str(tmp_path / "one.txt")]) == 2
    assert "at least 2 sentences" in capsys.readouterr().err
    assert main(["bleu", str(tmp_path / "one.txt")]) == 2
    assert "--refs" in capsys.readouterr().err


def test_nltk_tokenizer_without_nltk_is_a_clear_error(monkeypatch):
    from seqgan.data.corpus import word_tokenizer

    monkeypatch.setitem(__import__("sys").modules, "nltk.tokenize", None)  # import fails as if absent
    word_tokenizer.cache_clear()  # made once per process: make it again without nltk
    try:
        with pytest.raises(ValueError, match=r"pip install 'seqgan\[text\]'"):
            tokenizer("word")
    finally:
        word_tokenizer.cache_clear()


def test_cli_sample_and_nltk_tokens(tmp_path, capsys):
    hyps = tmp_path / "hyps.txt"
    lines = [f"a dog{i % 7}, runs on grass{i % 3}." for i in range(40)]
    hyps.write_text("\n".join(lines) + "\n")
    argv = ["bleu", "--self", str(hyps), "--sample", "12", "--seed", "7", "--tokenize", "word", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    chosen = sample_sentences([tokenizer("word")(line) for line in lines], 12, seed=7)
    assert result["hypotheses"] == 12 and result["tokenize"] == "word"
    assert result["self_bleu"] == {str(n): score for n, score in self_bleu(chosen).items()}


def test_cli_refs_of_a_corpus_directory_are_its_test_split(tmp_path, capsys):
    """--refs DIR scores against the corpus's held-out sentences as written words (<unk> for a word
    the training lines lack), the same as their text file, and a long test line cut to seq_len."""
    from seqgan.data.corpus_files import build_corpus

    (tmp_path / "train.txt").write_text("a dog sits on a mat\nthe cat runs\na big dog runs\n")
    (tmp_path / "test.txt").write_text("a cat sits\nthe big red dog runs on a mat\n")
    build_corpus(str(tmp_path / "train.txt"), tmp_path / "c", test_file=str(tmp_path / "test.txt"),
                 tokenizer="space", seq_len=6, long="cut")
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("a cat sits on a mat\nthe big dog runs\n")
    expected_refs = tmp_path / "refs.txt"
    expected_refs.write_text("a cat sits\nthe big <unk> dog runs on\n")  # 'red' unseen; cut to seq_len tokens
    assert main(["bleu", "--refs", str(tmp_path / "c"), str(hyps), "--json"]) == 0
    from_corpus = json.loads(capsys.readouterr().out)
    assert main(["bleu", "--refs", str(expected_refs), str(hyps), "--json"]) == 0
    assert from_corpus == json.loads(capsys.readouterr().out) and from_corpus["references"] == 2
    assert main(["bleu", "--refs", str(tmp_path), str(hyps)]) == 2  # a folder that is no corpus
    assert "corpus.json" in capsys.readouterr().err
