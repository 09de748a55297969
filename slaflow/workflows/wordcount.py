"""wordcount: count the words of a generated text in chunks, merge the counts pairwise, report.

  make_chunk ×C     (roots: chunk i of the corpus, generated from seed and i)
      │
  count_chunk ×C    (word → count of one chunk)
       \\  /
       merge        (binary tree of C-1 pairwise merges)
         │
       report       (totals and the top-k words)

Tasks at the defaults (chunks=16): 16 + 16 + 15 + 1 = 48.
The result is ``{"total": tokens, "distinct": types, "top": [[word, count], ...]}``
with ties in the top-k broken by word; ``check`` counts the whole text directly.
"""

from collections import Counter

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, _text, register

DEFAULTS = {"chunks": 16, "words": 2000, "vocab": 2000, "top": 10, "seed": 11}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"chunks": 1024, "words": 1_000_000, "vocab": 1_000_000, "top": 1000, "seed": 2**32}


@task
def make_chunk(seed: int, index: int, words: int, vocab: int) -> str:
    return _text.chunk_text(seed, index, words, vocab)


@task
def count_chunk(text: str) -> dict:
    return _text.count(text)


@task
def merge(a: dict, b: dict) -> dict:
    total = Counter(a)
    total.update(b)
    return dict(total)


@task
def report(counts: dict, top: int) -> dict:
    return _report(counts, top)


def _report(counts: dict, top: int) -> dict:
    return {
        "total": sum(counts.values()),
        "distinct": len(counts),
        "top": [[w, c] for w, c in _text.ranked(counts)[:top]],
    }


def build(chunks: int = 16, words: int = 2000, vocab: int = 2000, top: int = 10, seed: int = 11):
    if chunks < 1 or chunks & (chunks - 1):
        raise ValueError(f"wordcount needs chunks to be a power of two ≥ 1, got {chunks}")
    if words < 1 or vocab < 1 or top < 1:
        raise ValueError("wordcount needs words, vocab and top ≥ 1")
    level = [count_chunk(make_chunk(seed, i, words, vocab)) for i in range(chunks)]
    while len(level) > 1:
        level = [merge(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return report(level[0], top)


def check(result, chunks: int = 16, words: int = 2000, vocab: int = 2000, top: int = 10, seed: int = 11) -> bool:
    counts = Counter()
    for i in range(chunks):
        counts.update(_text.tokenize(_text.chunk_text(seed, i, words, vocab)))
    return _text.same(result, _report(dict(counts), top))


register(
    LibraryWorkflow(
        "wordcount",
        "word counts of C generated chunks merged in a binary tree, top-k report",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
