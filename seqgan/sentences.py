"""Plain-text sentence files for the text metrics: one sentence a line, UTF-8, turned into tokens.

Every line is a sentence, a blank one included (an empty sentence), as in Texygen, which
tokenizes each line of the file: an empty hypothesis scores 0, an empty reference only offers
length 0 to the brevity penalty.

Tokenizers: "split" (default) splits at whitespace, for text that is already tokenized. "nltk"
applies nltk's NLTKWordTokenizer to each line, which is exactly
`nltk.word_tokenize(line, preserve_line=True)`; Texygen's plain `word_tokenize(line)` first
splits the line into sentences with punkt (data not installed here), which differs only where a
line holds several sentences: a period that ends an inner sentence stays on its word
("a dog. a cat." -> a, dog., a, cat, .).
"""
from __future__ import annotations

import random
from pathlib import Path

from seqgan.data import _lines, read_text
from seqgan.errors import BadFileError

TOKENIZERS = ("split", "nltk")


def read_sentences(path: str | Path, what: str, tokenize: str = "split") -> list[list[str]]:
    """The file's lines as token lists; a file with no lines is a BadFileError naming it."""
    lines = _lines(read_text(path, what))
    if not lines:
        raise BadFileError(f"{what} {str(path)!r} holds no sentences (expected one sentence a line)")
    split = tokenizer(tokenize)
    return [split(line) for line in lines]


def tokenizer(name: str):
    """The function line -> tokens called `name` (one of TOKENIZERS)."""
    if name == "split":
        return str.split
    if name == "nltk":
        try:  # only here: the metrics themselves need no nltk
            from nltk.tokenize import NLTKWordTokenizer
        except ImportError:
            raise ValueError("--tokenize nltk needs nltk: pip install 'seqgan[text]'") from None
        return NLTKWordTokenizer().tokenize
    raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {name!r}")


def sample_sentences(sentences: list, count: int | None, seed: int) -> list:
    """`count` sentences drawn without replacement (seeded), kept in file order; all when count
    is None or not smaller than the file."""
    if count is None or count >= len(sentences):
        return sentences
    chosen = sorted(random.Random(seed).sample(range(len(sentences)), count))
    return [sentences[index] for index in chosen]
