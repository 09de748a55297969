"""Deterministic synthetic text for the text workflows (wordcount, text_analysis).

Not a workflow: plain helpers the task functions and the checks share.
Words are made of syllables; the word of rank r is short when r is small, so
frequent words are short as in natural language. A chunk of text draws word
ranks from a Zipf-like distribution (p ∝ 1 / (rank+1)^exponent) with
``numpy.random.default_rng([seed, index])``, then adds sentence
capitalisation and punctuation that ``tokenize`` strips again.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fe", "gu", "hi", "ja", "bo")
_TOKEN = re.compile(r"[a-z]+")


def word(rank: int) -> str:
    """The word of ``rank``: ranks 0-15 one syllable, the next 256 two, and so on."""
    base = len(SYLLABLES)
    length, span = 1, base
    while rank >= span:
        rank -= span
        length += 1
        span *= base
    out = []
    for _ in range(length):
        rank, digit = divmod(rank, base)
        out.append(SYLLABLES[digit])
    return "".join(out)


def vocabulary(size: int) -> list[str]:
    return [word(r) for r in range(size)]


def chunk_text(seed: int, index: int, words: int, vocab: int, exponent: float = 1.1) -> str:
    """Chunk ``index`` of the corpus ``seed``: ``words`` words in sentences."""
    rng = np.random.default_rng([seed, index])
    weights = 1.0 / np.arange(1, vocab + 1) ** exponent
    ranks = rng.choice(vocab, size=words, p=weights / weights.sum())
    lengths = rng.integers(5, 16, size=words)  # more than enough sentence lengths
    names = vocabulary(vocab)
    sentences, pos, k = [], 0, 0
    while pos < words:
        n = int(lengths[k])
        k += 1
        tokens = [names[r] for r in ranks[pos : pos + n]]
        pos += n
        tokens[0] = tokens[0].capitalize()
        if len(tokens) > 6:
            tokens[len(tokens) // 2] += ","
        sentences.append(" ".join(tokens) + ".")
    return " ".join(sentences)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def count(text: str) -> dict[str, int]:
    return dict(Counter(tokenize(text)))


def ranked(counts: dict[str, int]) -> list[tuple[str, int]]:
    """(word, count) pairs, most frequent first, ties by word: one order however counts were merged."""
    return sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))


def same(a, b, rel: float = 1e-9) -> bool:
    """Structural equality with a float tolerance; tuples and lists compare alike (the codec keeps both)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= rel * max(1.0, abs(a), abs(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel) for k in a)
    return type(a) is type(b) and a == b
