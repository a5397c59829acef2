"""Plain-text sentence files for the text metrics: one sentence a line, UTF-8, turned into tokens.

Every line is a sentence, a blank one included (an empty sentence), as in Texygen, which
tokenizes each line of the file: an empty hypothesis scores 0, an empty reference only offers
length 0 to the brevity penalty.

Tokenizers are the corpus builder's (seqgan.data.corpus.tokenize): "space" (default) splits at whitespace,
for text that is already tokenized (a corpus's sentences, `seqgan sample --format text`); "word" is
NLTK's word tokenizer per line, exactly `nltk.word_tokenize(line, preserve_line=True)`; "char" is
one token a character.
"""
from __future__ import annotations

import random
from pathlib import Path

from seqgan.data.corpus import TOKENIZERS, sentence_words, tokenize, word_tokenizer
from seqgan.files import text_lines, read_text
from seqgan.errors import BadFileError

def read_sentences(path: str | Path, what: str, tokenize: str = "space") -> list[list[str]]:
    """The file's lines as token lists; a file with no lines is a BadFileError naming it."""
    lines = text_lines(read_text(path, what))
    if not lines:
        raise BadFileError(f"{what} {str(path)!r} holds no sentences (expected one sentence a line)")
    split = tokenizer(tokenize)
    return [split(line) for line in lines]


def corpus_test_sentences(folder: str | Path) -> list[list[str]]:
    """A corpus directory's held-out split as token lists: its words (`<unk>` where the word was
    not in the vocabulary), each sentence ending before its <eos>."""
    from seqgan.data.corpus_files import read_corpus

    corpus = read_corpus(folder)
    return sentence_words(corpus.test, corpus.test_lengths, corpus.vocabulary)


def tokenizer(name: str):
    """The function line -> tokens called `name` (one of seqgan.data.corpus.TOKENIZERS); NLTK is loaded
    here, so a missing NLTK is an error before any file is read."""
    if name not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {name!r}")
    if name == "word":
        word_tokenizer()
    return lambda line: tokenize(line, name)


def sample_sentences(sentences: list, count: int | None, seed: int) -> list:
    """`count` sentences drawn without replacement (seeded), kept in file order; all when count
    is None or not smaller than the file."""
    if count is None or count >= len(sentences):
        return sentences
    chosen = sorted(random.Random(seed).sample(range(len(sentences)), count))
    return [sentences[index] for index in chosen]
