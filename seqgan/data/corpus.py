"""Plain text -> token ids: tokenizers, the vocabulary and sentence encoding.

The convention every corpus follows: id 0 is `<eos>` (the end of a sentence, and the padding after
it), id 1 is `<unk>` (a token below `min_count`, or past `max_vocab`), then the training tokens by
descending count, ties broken by the token string, so a vocabulary is a pure function of its text
and settings. A sentence is encoded as its token ids, one `<eos>`, then `<eos>` up to `seq_len`.
A sentence of more than seq_len - 1 tokens is either dropped or cut to its first seq_len tokens,
which then fill the row with no `<eos>` (a sentence that does not end within the model's window).
A sentence of only unknown tokens is dropped (and counted), like an empty line.
The files of a corpus directory are read and written by seqgan/data/corpus_files.py.
"""
from __future__ import annotations

import math
import functools
import re
from collections import Counter
from dataclasses import dataclass, field

import torch

from seqgan.errors import BadFileError

EOS, UNK = "<eos>", "<unk>"
EOS_ID, UNK_ID = 0, 1
SPECIALS = (EOS, UNK)
TOKENIZERS = ("word", "char", "space")
LONG_POLICIES = ("drop", "cut")
_WHITESPACE = re.compile(r"\s+")


def tokenize(line: str, tokenizer: str) -> list[str]:
    """One line (one sentence) -> tokens.

    word: NLTK's word tokenizer as the text-GAN tables use it (`nltk.word_tokenize(line,
      preserve_line=True)`, i.e. `NLTKWordTokenizer().tokenize`). Plain `word_tokenize` first
      splits the text into sentences with punkt (data that is not installed offline), then runs
      the same tokenizer on each; the two agree on every line punkt would not split. They differ
      only where a line holds a sentence end before its last word (`... 11:59. there is ...`):
      there this keeps `11:59.` as one token, where punkt would split off the `.`. A period at the
      end of the line is split off by both (`wheel.` -> `wheel` `.`). 8 COCO training lines and 4
      test lines have a period followed by more text.
    char: every character; runs of whitespace inside the line become one " " token, whitespace
      at its ends is dropped.
    space: the line split at whitespace (for text already tokenized, such as the quatrains).
    """
    if tokenizer == "space":
        return line.split()
    if tokenizer == "char":
        return list(_WHITESPACE.sub(" ", line.strip()))
    if tokenizer == "word":
        return word_tokenizer().tokenize(line)
    raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")


@functools.cache
def word_tokenizer():
    """NLTK's word tokenizer, made once; without NLTK a ValueError that says how to get it."""
    try:
        from nltk.tokenize import NLTKWordTokenizer
    except ImportError:
        raise ValueError("the word tokenizer needs NLTK: pip install 'seqgan[text]' "
                         "(or use the space or char tokenizer)") from None
    return NLTKWordTokenizer()


def join_tokens(tokens: list[str], tokenizer: str | None) -> str:
    """Tokens back to a line: characters side by side for `char`, otherwise separated by spaces."""
    return "".join(tokens) if tokenizer == "char" else " ".join(tokens)


def tokenize_lines(lines: list[str], tokenizer: str, source: str) -> list[list[str]]:
    """Each line's tokens (empty lines give []). A literal `<eos>` token is refused: it would end
    the sentence where the text does not; a literal `<unk>` is kept and counts as unknown."""
    sentences = []
    for number, line in enumerate(lines, start=1):
        tokens = tokenize(line, tokenizer)
        if EOS in tokens:
            raise BadFileError(f"{source}:{number}: the text holds the token {EOS}, which is reserved "
                               "for the end of a sentence")
        sentences.append(tokens)
    return sentences


def build_vocabulary(sentences: list[list[str]], min_count: int = 1, max_vocab: int | None = None) -> list[str]:
    """`<eos>`, `<unk>`, then tokens seen at least `min_count` times by descending count, ties by
    the token string; `max_vocab` (when given) caps the whole list, the two specials included."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_vocab is not None and max_vocab < len(SPECIALS) + 1:
        raise ValueError(f"max_vocab must be >= {len(SPECIALS) + 1} (<eos>, <unk> and one token), got {max_vocab}")
    counts = Counter(token for tokens in sentences for token in tokens)
    counts.pop(UNK, None)  # a literal <unk> in the text is the special, not a word
    kept = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
    if max_vocab is not None:
        kept = kept[:max_vocab - len(SPECIALS)]
    return [*SPECIALS, *kept]


@dataclass
class Encoded:
    """One split encoded: ids [N, seq_len] and lengths [N] (tokens before the first <eos>; seq_len
    for a cut sentence), with the counts the build reports."""
    ids: torch.Tensor
    lengths: torch.Tensor
    stats: dict = field(default_factory=dict)


def fit_length(sentences: list[list[str]], seq_len: int, long: str = "drop") -> tuple[list[list[str]], dict]:
    """(the sentences that go into the corpus, counts): empty ones are dropped; those of more than
    seq_len - 1 tokens are dropped or cut to seq_len tokens (`long`)."""
    if long not in LONG_POLICIES:
        raise ValueError(f"long must be one of {', '.join(LONG_POLICIES)}, got {long!r}")
    kept, empty, dropped, cut = [], 0, 0, 0
    for tokens in sentences:
        if not tokens:
            empty += 1
        elif len(tokens) <= seq_len - 1:
            kept.append(tokens)
        elif long == "drop":
            dropped += 1
        else:
            cut += 1
            kept.append(tokens[:seq_len])
    return kept, {"lines": len(sentences), "kept": len(kept), "cut": cut, "dropped_long": dropped,
                  "dropped_empty": empty}


def drop_unknown(sentences: list[list[str]], vocabulary: list[str], stats: dict) -> tuple[list[list[str]], dict]:
    """(the sentences with at least one token of the vocabulary, counts): a sentence whose every
    token is unknown (below min_count, past max_vocab, or a literal <unk>) would train and score as
    a row of <unk> alone, so it is dropped and counted, as an empty line is. Dropping it changes no
    vocabulary: its tokens are all outside it already."""
    known = set(vocabulary) - {UNK}
    kept = [tokens for tokens in sentences if any(token in known for token in tokens)]
    return kept, {**stats, "kept": len(kept), "dropped_unknown": len(sentences) - len(kept)}


def encode(sentences: list[list[str]], vocabulary: list[str], seq_len: int, stats: dict | None = None) -> Encoded:
    """Sentences of at most seq_len tokens (`fit_length`'s) -> ids padded with <eos>, and the
    token and <unk> counts added to `stats`."""
    index = {token: i for i, token in enumerate(vocabulary)}
    flat = torch.tensor([index.get(token, UNK_ID) for tokens in sentences for token in tokens],
                        dtype=torch.long)  # [sum of lengths]
    lengths = torch.tensor([len(tokens) for tokens in sentences], dtype=torch.long)  # [N]
    filled = torch.arange(seq_len) < lengths[:, None]  # [N, T]: the sentence's positions, row by row
    ids = torch.full((len(sentences), seq_len), EOS_ID, dtype=torch.long)  # [N, T], <eos> everywhere first
    ids[filled] = flat  # boolean indexing walks rows in order, as `flat` was made
    tokens_kept = int(lengths.sum())
    unknown = int((ids == UNK_ID).sum())
    stats = {**(stats or {}), "tokens": tokens_kept, "unk": unknown,
             "unk_rate": round(unknown / tokens_kept, 6) if tokens_kept else 0.0}
    return Encoded(ids, lengths, stats)


def split_held_out(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, test indices) of `count` lines: round(fraction * count) lines, at least one,
    drawn by a generator seeded from `seed`; each part keeps the file's order."""
    from seqgan.seeding import derive_seed

    if not 0.0 < fraction < 1.0 or not math.isfinite(fraction):
        raise ValueError(f"--test-fraction must be in (0, 1), got {fraction!r}")
    held = max(1, round(fraction * count))
    if held >= count:
        raise ValueError(f"--test-fraction {fraction} of {count} lines leaves no training lines")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(derive_seed(seed, "corpus_split")))
    test = sorted(order[:held].tolist())
    train = sorted(order[held:].tolist())
    return train, test


def first_eos_lengths(ids: torch.Tensor) -> torch.Tensor:
    """[N, T] ids -> [N] position of the first <eos> (T where there is none)."""
    is_eos = ids == EOS_ID  # [N, T]
    positions = torch.arange(ids.shape[1]).expand_as(ids)  # [N, T]
    return torch.where(is_eos, positions, ids.shape[1]).min(dim=1).values


def format_sentences(ids: torch.Tensor, vocabulary: list[str], tokenizer: str | None = None) -> str:
    """[N, T] ids -> one sentence a line: the tokens before the first <eos> (id 0), joined as the
    tokenizer split them (`join_tokens`); a sequence that starts with <eos> is an empty line."""
    if not vocabulary or vocabulary[EOS_ID] != EOS:
        raise BadFileError(f"sentences need a vocabulary whose first line (id {EOS_ID}) is {EOS}, got "
                           f"{vocabulary[:1]}")
    lines = [join_tokens(words, tokenizer) for words in sentence_words(ids, first_eos_lengths(ids), vocabulary)]
    return "".join(f"{line}\n" for line in lines)


def sentence_words(ids: torch.Tensor, lengths: torch.Tensor, vocabulary: list[str]) -> list[list[str]]:
    """[N, T] ids and [N] sentence lengths -> each sentence's words (the padding after it dropped)."""
    return [[vocabulary[i] for i in row[:n]] for row, n in zip(ids.tolist(), lengths.tolist())]
