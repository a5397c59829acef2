"""Plain-text corpora: tokenizers, the vocabulary convention, corpus directories and their checks,
`seqgan corpus build`, training on a corpus and sampling sentences."""
import json
import random
from pathlib import Path

import pytest
import torch
import yaml

from learner.cli import main
from seqgan.config import ConfigError
from seqgan.config_files import load_config
from seqgan.data.corpus import (EOS, UNK, build_vocabulary, encode, first_eos_lengths, fit_length, format_sentences,
                           join_tokens, split_held_out, tokenize)
from seqgan.data.corpus_files import build_corpus, read_corpus
from seqgan.errors import BadFileError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TEXT = ["a man rides a horse.", "a dog sits on a red bench.", "", "two dogs and a man play.",
        "a horse.", "a very very very long sentence that goes on and on and on ."]


def write_text(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def corpus_dir(tmp_path):
    """A small corpus: TEXT as training lines, two test lines (one with an unseen word)."""
    train = write_text(tmp_path / "train.txt", TEXT)
    test = write_text(tmp_path / "test.txt", ["a red horse sits.", "a zebra."])
    out = tmp_path / "corpus"
    build_corpus(str(train), out, test_file=str(test), tokenizer="word", seq_len=9)
    return out


@pytest.mark.unit
def test_tokenizers():
    assert tokenize("a man  on\ta bike", "space") == ["a", "man", "on", "a", "bike"]
    assert tokenize(" 秦川 雄  帝 ", "char") == ["秦", "川", " ", "雄", " ", "帝"]
    assert join_tokens(tokenize(" 秦川 雄  帝 ", "char"), "char") == "秦川 雄 帝"
    # NLTK's word tokenizer: the period ending the line is split off, one inside it is not
    assert tokenize("the front wheel.", "word") == ["the", "front", "wheel", "."]
    assert tokenize("at 11:59. there is a rack.", "word") == ["at", "11:59.", "there", "is", "a", "rack", "."]
    assert tokenize("a man's dog isn't here.", "word") == ["a", "man", "'s", "dog", "is", "n't", "here", "."]
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        tokenize("a", "bpe")


@pytest.mark.unit
def test_word_tokenizer_is_nltk_word_tokenize_per_line():
    """word_tokenize with preserve_line=True skips punkt (not installed offline) and runs the same
    tokenizer on the whole line; on COCO that is what `word` gives."""
    nltk = pytest.importorskip("nltk")
    path = DATA / "coco" / "train.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    lines = path.read_text(encoding="utf-8").split("\n")
    for line in random.Random(0).sample(lines, 500):
        assert tokenize(line, "word") == nltk.word_tokenize(line, preserve_line=True)


@pytest.mark.unit
def test_vocabulary_order_min_count_and_cap():
    sentences = [["b", "a", "c"], ["a", "b", "d"], ["a", UNK], ["e"]]
    assert build_vocabulary(sentences) == [EOS, UNK, "a", "b", "c", "d", "e"]  # 3, 2, then ties by string
    assert build_vocabulary(sentences, min_count=2) == [EOS, UNK, "a", "b"]
    assert build_vocabulary(sentences, max_vocab=4) == [EOS, UNK, "a", "b"]
    shuffled = [list(reversed(s)) for s in reversed(sentences)]
    assert build_vocabulary(shuffled) == build_vocabulary(sentences)  # order of the text does not matter
    with pytest.raises(ValueError, match="min_count"):
        build_vocabulary(sentences, min_count=0)


@pytest.mark.unit
def test_fit_length_and_encode():
    sentences = [["a", "b"], [], ["a", "b", "c", "d"], ["x", "a", "b"]]
    kept, stats = fit_length(sentences, seq_len=4, long="drop")
    assert kept == [["a", "b"], ["x", "a", "b"]]
    assert stats == {"lines": 4, "kept": 2, "cut": 0, "dropped_long": 1, "dropped_empty": 1}
    cut, cut_stats = fit_length(sentences, seq_len=3, long="cut")
    assert cut == [["a", "b"], ["a", "b", "c"], ["x", "a", "b"]] and cut_stats["cut"] == 2
    encoded = encode(cut, [EOS, UNK, "a", "b", "c"], 3)
    assert encoded.ids.tolist() == [[2, 3, 0], [2, 3, 4], [1, 2, 3]]  # a cut sentence fills the row, no <eos>
    assert encoded.lengths.tolist() == [2, 3, 3] and first_eos_lengths(encoded.ids).tolist() == [2, 3, 3]
    assert encoded.stats["tokens"] == 8 and encoded.stats["unk"] == 1 and encoded.stats["unk_rate"] == 0.125


@pytest.mark.unit
def test_held_out_split_is_seeded_disjoint_and_ordered():
    train, test = split_held_out(100, 0.1, seed=3)
    assert len(test) == 10 and sorted(train + test) == list(range(100)) and test == sorted(test)
    assert split_held_out(100, 0.1, seed=3) == (train, test)
    assert split_held_out(100, 0.1, seed=4)[1] != test
    with pytest.raises(ValueError, match="leaves no training lines"):
        split_held_out(1, 0.5, seed=0)


@pytest.mark.unit
def test_corpus_round_trip(corpus_dir):
    corpus = read_corpus(corpus_dir)
    settings = json.loads((corpus_dir / "corpus.json").read_text())
    assert corpus.vocabulary[:2] == [EOS, UNK] and corpus.vocab_size == settings["vocab_size"]
    assert corpus.seq_len == 9 and settings["train"]["dropped_long"] == 1 and settings["train"]["dropped_empty"] == 1
    assert "very" not in corpus.vocabulary  # only what is trained on makes the vocabulary
    text = format_sentences(corpus.train, corpus.vocabulary, "word").splitlines()
    assert text == ["a man rides a horse .", "a dog sits on a red bench .", "two dogs and a man play .", "a horse ."]
    assert format_sentences(corpus.test, corpus.vocabulary).splitlines() == ["a red horse sits .", f"a {UNK} ."]
    assert settings["test"]["unk"] == 1  # the test set is encoded with the training vocabulary
    assert (corpus.test_lengths == torch.tensor([5, 3])).all()


@pytest.mark.unit
def test_held_out_fraction_build(tmp_path):
    lines = [" ".join(f"w{(i * j) % 7}" for j in range(1, 4)) for i in range(50)]
    settings = build_corpus(str(write_text(tmp_path / "t.txt", lines)), tmp_path / "c", test_fraction=0.2, seed=1,
                            tokenizer="space", seq_len=4)
    assert (settings["train"]["lines"], settings["test"]["lines"]) == (40, 10)
    assert settings["test_source"] == {"fraction": 0.2, "seed": 1, "from": str(tmp_path / "t.txt")}
    with pytest.raises(ValueError, match="--test FILE or --test-fraction"):
        build_corpus(str(tmp_path / "t.txt"), tmp_path / "d", tokenizer="space")
    with pytest.raises(BadFileError, match="the train split keeps no sentence"):  # every line is 3 tokens
        build_corpus(str(tmp_path / "t.txt"), tmp_path / "e", test_fraction=0.2, tokenizer="space", seq_len=3)


@pytest.mark.unit
@pytest.mark.parametrize("content, message", [
    (b"caf\xe9 au lait\n", "not UTF-8"),
    (b"", "holds no text"),
    (b"\n  \n", "holds no text"),
    (b"a b\nthe <eos> token\n", ":2: the text holds the token <eos>"),
])
def test_bad_text_files(tmp_path, content, message):
    (tmp_path / "t.txt").write_bytes(content)
    with pytest.raises(BadFileError, match=message):
        build_corpus(str(tmp_path / "t.txt"), tmp_path / "c", test_fraction=0.5, tokenizer="space")
    assert not (tmp_path / "c").exists()


@pytest.mark.unit
def test_a_line_of_only_unknown_words_is_dropped_and_counted(tmp_path):
    """One rule, however a line comes to hold no known word (a word the training lines lack, rare
    words under --min-count, words past --max-vocab): it is dropped and counted, as an empty line."""
    train = write_text(tmp_path / "train.txt", ["a dog runs", "a cat sits", "the dog sits", "zebras gallop far away"])
    test = write_text(tmp_path / "test.txt", ["a dog sits", "zebras gallop", "the cat runs"])
    settings = build_corpus(str(train), tmp_path / "c", test_file=str(test), tokenizer="space", seq_len=4)
    assert settings["test"]["dropped_unknown"] == 1 and settings["test"]["kept"] == 2  # 'zebras gallop'
    assert settings["train"]["dropped_long"] == 1 and settings["train"]["dropped_unknown"] == 0  # dropped first
    rare = build_corpus(str(train), tmp_path / "d", test_file=str(train), tokenizer="space", min_count=2)
    assert rare["train"]["dropped_unknown"] == 1 and rare["train"]["kept"] == 3  # 'zebras gallop far away'
    capped = build_corpus(str(train), tmp_path / "e", test_file=str(test), tokenizer="space", max_vocab=3)
    assert read_corpus(tmp_path / "e").vocabulary == [EOS, UNK, "a"]
    assert (capped["train"]["kept"], capped["train"]["dropped_unknown"]) == (2, 2)
    assert format_sentences(read_corpus(tmp_path / "e").train, [EOS, UNK, "a"]).splitlines() == \
        [f"a {UNK} {UNK}"] * 2


@pytest.mark.unit
def test_a_sequence_length_past_the_model_maximum_is_refused(tmp_path):
    from seqgan.config import MAX_SEQ_LEN

    train = write_text(tmp_path / "train.txt", ["a dog runs", "a cat sits"])
    with pytest.raises(ValueError, match=rf"--seq-len must be in \[2, {MAX_SEQ_LEN}\].*got {MAX_SEQ_LEN + 1}"):
        build_corpus(str(train), tmp_path / "c", test_fraction=0.5, tokenizer="space", seq_len=MAX_SEQ_LEN + 1)
    assert not (tmp_path / "c").exists()


@pytest.mark.unit
def test_build_refuses_a_used_directory(corpus_dir, tmp_path):
    with pytest.raises(FileExistsError, match="nothing was overwritten"):
        build_corpus(str(tmp_path / "train.txt"), corpus_dir, test_file=str(tmp_path / "test.txt"))


@pytest.mark.unit
@pytest.mark.parametrize("name", ["corpus.json", "vocab.txt", "train.txt", "test.txt", "train.lengths",
                                  "test.lengths"])
def test_missing_file_is_named(corpus_dir, name):
    (corpus_dir / name).unlink()
    with pytest.raises(BadFileError, match=name.replace(".", r"\.")):
        read_corpus(corpus_dir)


def _edit_line(path: Path, number: int, edit) -> None:
    lines = path.read_text().split("\n")
    lines[number - 1] = edit(lines[number - 1])
    path.write_text("\n".join(lines))


@pytest.mark.unit
@pytest.mark.parametrize("name, number, edit, message", [
    ("vocab.txt", 5, lambda line: "a", r"vocab\.txt:5: token 'a' is also on line 3"),
    ("vocab.txt", 1, lambda line: "<end>", "must be <eos> and <unk>"),
    ("train.txt", 2, lambda line: "999 " + line.split(" ", 1)[1], r"train\.txt:2: token id 999 outside"),
    ("train.txt", 3, lambda line: line + " 0", r"train\.txt:3: 10 tokens, expected model\.seq_len = 9"),
    ("test.txt", 2, lambda line: line.replace(" 0 0", " 0 2"), r"test\.lengths:2: length 3, but sequence 2"),
    ("train.lengths", 1, lambda line: "4", r"train\.lengths:1: length 4"),
    ("train.lengths", 2, lambda line: "x", r"train\.lengths:2: expected a sentence length in \[1, 9\]"),
    ("test.lengths", 1, lambda line: "10", r"test\.lengths:1: expected a sentence length"),
    ("corpus.json", 1, lambda line: "[", r"corpus\.json' is not JSON"),
])
def test_damaged_corpus_names_file_and_line(corpus_dir, name, number, edit, message):
    _edit_line(corpus_dir / name, number, edit)
    with pytest.raises(BadFileError, match=message):
        read_corpus(corpus_dir)


@pytest.mark.unit
def test_vocab_size_mismatch(corpus_dir):
    settings = json.loads((corpus_dir / "corpus.json").read_text())
    (corpus_dir / "corpus.json").write_text(json.dumps({**settings, "vocab_size": settings["vocab_size"] + 1}))
    with pytest.raises(BadFileError, match=f"has {settings['vocab_size']} tokens, corpus.json says"):
        read_corpus(corpus_dir)
    (corpus_dir / "corpus.json").write_text(json.dumps({**settings, "seq_len": True}))
    with pytest.raises(BadFileError, match="seq_len = True is not valid"):
        read_corpus(corpus_dir)


@pytest.mark.unit
def test_config_corpus_keys(corpus_dir):
    from learner.driver import real_data

    with pytest.raises(ConfigError, match="data.corpus .* replaces data.oracle"):
        load_config(None, [f"data.corpus={corpus_dir}", "data.oracle=x.sgw"])
    with pytest.raises(ConfigError, match=r"model.end_token must be null or in \[0, 5000\), got 5000"):
        load_config(None, ["model.end_token=5000"])
    size = read_corpus(corpus_dir).vocab_size
    config = load_config(None, [f"data.corpus={corpus_dir}", "model.seq_len=9", "data.batch_size=2",
                                "discriminator.filter_sizes=[2]", "discriminator.num_filters=[3]"])
    with pytest.raises(ConfigError, match=f"has {size} tokens in its vocabulary, but model.vocab_size is 5000"):
        real_data(config)
    config.model.vocab_size, config.model.seq_len = size, 10
    with pytest.raises(ConfigError, match="built with seq_len 9, but model.seq_len is 10"):
        real_data(config)
    config.model.seq_len = 9
    train, test, oracle = real_data(config)
    assert train.shape == (4, 9) and test.shape == (2, 9) and oracle is None
    config.data.batch_size = 5
    with pytest.raises(ConfigError, match="holds 4 training sequences, fewer than data.batch_size = 5"):
        real_data(config)


@pytest.mark.unit
def test_cli_build_prints_the_summary_and_refuses_bad_input(tmp_path, capsys):
    train = write_text(tmp_path / "t.txt", TEXT)
    assert main(["corpus", "build", str(train), "--test", str(train), "--out", str(tmp_path / "c"),
                 "--seq-len", "8", "--min-count", "2"]) == 0
    out = capsys.readouterr().out
    assert "3 kept (0 cut), 2 dropped as too long, 1 empty dropped" in out and "model.seq_len: 8" in out
    assert read_corpus(tmp_path / "c").vocabulary == [EOS, UNK, "a", ".", "horse", "man"]  # 4, 3, then 2 each by string
    (tmp_path / "bad.txt").write_bytes(b"\xff\n")
    assert main(["corpus", "build", str(tmp_path / "bad.txt"), "--test-fraction", "0.5", "--out",
                 str(tmp_path / "d")]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # neither --test nor --test-fraction
        main(["corpus", "build", str(train), "--out", str(tmp_path / "e")])
    with pytest.raises(SystemExit):
        main(["corpus", "build", str(train), "--test-fraction", "1.5", "--out", str(tmp_path / "e")])


@pytest.mark.smoke
def test_train_on_a_corpus_and_sample_sentences(tmp_path, capsys):
    """Smoke-sized settings, inline: a corpus in, sentences out."""
    lines = [" ".join(random.Random(i).choices(["a", "dog", "cat", "runs", "sits", "on", "the", "mat", "."],
                                                k=1 + i % 7)) for i in range(300)]
    corpus = tmp_path / "c"
    assert main(["corpus", "build", str(write_text(tmp_path / "t.txt", lines)), "--test-fraction", "0.2",
                 "--tokenizer", "space", "--seq-len", "10", "--out", str(corpus)]) == 0
    vocabulary = read_corpus(corpus).vocabulary
    run = tmp_path / "run"
    assert main(["train", "--config", "deploy/configs/smoke.yaml", "--out", str(run), "--set",
                 "rollout.num_workers=0", f"data.corpus={corpus}", f"model.vocab_size={len(vocabulary)}",
                 "model.end_token=0", "train.mle_epochs=2", "train.disc_pretrain_rounds=1", "train.adv_iterations=1",
                 "train.checkpoint_every=5"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["corpus"] == str(corpus)
    evaluated = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in evaluated if "nll_test" in r]
    assert evaluated and all(r["bleu_hypotheses"] == 256 for r in evaluated)  # smoke.yaml's eval_samples
    assert all(0 <= r[f"{kind}_{n}"] <= 1 for r in evaluated for kind in ("bleu", "self_bleu") for n in range(2, 6))
    assert "leave-one-out" in json.loads((run / "summary.json").read_text())["self_bleu_variant"]
    assert main(["sample", "--run", str(run), "-n", "40", "--format", "text", "--out", str(tmp_path / "s.txt")]) == 0
    sentences = (tmp_path / "s.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(sentences) == 40 and all(len(s.split()) < 10 or EOS not in s for s in sentences)
    assert {w for s in sentences for w in s.split()} <= set(vocabulary) - {EOS}
    assert main(["sample", "--run", str(run), "-n", "40", "--out", str(tmp_path / "ids.txt")]) == 0
    ids = torch.tensor([[int(x) for x in line.split()] for line in (tmp_path / "ids.txt").read_text().splitlines()])
    assert sentences == format_sentences(ids, vocabulary, "space").split("\n")[:-1]  # same draws, cut at <eos>
    capsys.readouterr()
    (tmp_path / "v.txt").write_text("w0\nw1\n" * len(vocabulary))
    assert main(["sample", "--run", str(run), "-n", "5", "--format", "text", "--vocab", str(tmp_path / "v.txt"),
                 "--out", str(tmp_path / "v_out.txt")]) == 2
    assert "first line (id 0) is <eos>" in capsys.readouterr().err


def _preset_recipe(preset: str) -> list[str]:
    """The `seqgan corpus build` arguments written in a preset's header (after its `corpus build`)."""
    header = [line.lstrip("# ").rstrip(" \\") for line in Path(preset).read_text().splitlines()
              if line.startswith("#")]
    start = next(i for i, line in enumerate(header) if line.startswith("seqgan corpus build"))
    words = " ".join(header[start:start + 2]).split()[3:]
    return words[:words.index("--out")] + words[words.index("--out") + 2:]


@pytest.mark.unit
@pytest.mark.parametrize("preset", ["deploy/configs/coco.yaml", "deploy/configs/poems.yaml"])
def test_real_corpora_build_to_their_presets(tmp_path, preset):
    recipe = _preset_recipe(preset)
    if not (ROOT / recipe[0]).is_file():
        pytest.skip(f"{recipe[0]} is absent")
    assert main(["corpus", "build", *recipe, "--out", str(tmp_path / "c")]) == 0
    corpus, config = read_corpus(tmp_path / "c"), load_config(preset)
    assert (corpus.vocab_size, corpus.seq_len) == (config.model.vocab_size, config.model.seq_len)
    assert config.model.end_token == 0 and len(corpus.train) > 9000 and len(corpus.test) > 1000
