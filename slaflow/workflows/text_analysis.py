"""text_analysis: word counts of a generated corpus feed per-segment and whole-text analyses.

  make_chapter ×4                    (roots: 8 consecutive chunks of text each)
        │
  count_words ×32                    (word → count of one chunk)
        │ ────────────────────────────────────┐
  merge_counts ×1                             │  (the corpus counts)
        │ ──────────────────────┐             │
  4 whole-text analyses       analyse_segment ×16   (2 consecutive chunk counts vs the
  (vocabulary_stats, zipf_fit,        │               corpus counts: distinctive words)
   top_words, length_profile)   merge_segments ×1
        └──────────┬──────────────────┘
               report ×1             (sink)

Tasks at the defaults (chunks=32, chapters=4): 4 + 32 + 1 + 16 + 1 + 4 + 1 = 59.
``check`` regenerates the corpus, counts the whole text and each segment
directly (no merging), runs the same analyses and compares (floats to 1e-9).
"""

import math
from collections import Counter

import numpy as np

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, _text, register

DEFAULTS = {"chunks": 32, "chapters": 4, "words": 1500, "vocab": 3000, "keywords": 5, "seed": 7}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"chunks": 1024, "chapters": 1024, "words": 1_000_000, "vocab": 1_000_000, "keywords": 1000, "seed": 2**32}
# Task parameters named unlike the workflow's, bounded alike when a JSON spec calls the task (functions.check_bounds).
TASK_BOUNDS = {"n": BOUNDS["chunks"]}


# --- tasks -------------------------------------------------------------------------------------


@task
def make_chapter(seed: int, first: int, n: int, words: int, vocab: int) -> list:
    """Chunks first..first+n-1 of the corpus."""
    return [_text.chunk_text(seed, first + i, words, vocab) for i in range(n)]


@task
def count_words(chapter: list, index: int) -> dict:
    return _text.count(chapter[index])


@task
def merge_counts(parts: list) -> dict:
    total = Counter()
    for part in parts:
        total.update(part)
    return dict(total)


@task
def analyse_segment(corpus: dict, parts: list, segment: int, keywords: int) -> dict:
    seg = Counter()
    for part in parts:
        seg.update(part)
    return _segment(corpus, dict(seg), segment, keywords)


@task
def merge_segments(analyses: list) -> dict:
    return _merge_segments(analyses)


@task
def vocabulary_stats(corpus: dict) -> dict:
    return _vocabulary_stats(corpus)


@task
def zipf_fit(corpus: dict) -> dict:
    return _zipf_fit(corpus)


@task
def top_words(corpus: dict, n: int = 20) -> list:
    return [[w, c] for w, c in _text.ranked(corpus)[:n]]


@task
def length_profile(corpus: dict) -> dict:
    return _length_profile(corpus)


@task
def report(segments: dict, vocabulary: dict, zipf: dict, top: list, lengths: dict) -> dict:
    return {"vocabulary": vocabulary, "zipf": zipf, "top_words": top, "word_lengths": lengths, "segments": segments}


# --- the analyses (plain functions, shared with check) ----------------------------------------


def _segment(corpus: dict, seg: dict, segment: int, keywords: int) -> dict:
    """Words over-represented in the segment: smoothed log ratio of segment to corpus frequency."""
    n_seg, n_all = sum(seg.values()), sum(corpus.values())
    scores = [(math.log((c + 0.5) / n_seg) - math.log((corpus[w] + 0.5) / n_all), w) for w, c in seg.items() if c >= 3]
    scores.sort(key=lambda sw: (-sw[0], sw[1]))
    return {
        "segment": segment,
        "tokens": n_seg,
        "types": len(seg),
        "coverage": len(seg) / len(corpus),
        "keywords": [[w, round(s, 9)] for s, w in scores[:keywords]],
    }


def _merge_segments(analyses: list) -> dict:
    ordered = sorted(analyses, key=lambda a: a["segment"])
    best = max(
        ((kw[1], kw[0], a["segment"]) for a in ordered for kw in a["keywords"][:1]),
        key=lambda t: (t[0], t[1]),
        default=None,
    )
    return {
        "count": len(ordered),
        "tokens": [a["tokens"] for a in ordered],
        "mean_coverage": sum(a["coverage"] for a in ordered) / max(len(ordered), 1),
        "keywords": [a["keywords"] for a in ordered],
        "most_distinctive": None if best is None else {"word": best[1], "score": best[0], "segment": best[2]},
    }


def _vocabulary_stats(corpus: dict) -> dict:
    tokens = sum(corpus.values())
    hapax = sum(1 for c in corpus.values() if c == 1)
    return {"tokens": tokens, "types": len(corpus), "hapax": hapax, "type_token_ratio": len(corpus) / tokens}


def _zipf_fit(corpus: dict, top: int = 500) -> dict:
    """Least-squares slope of log frequency against log rank over the top ranks."""
    freqs = np.array([c for _, c in _text.ranked(corpus)[:top]], dtype=float)
    ranks = np.arange(1, len(freqs) + 1, dtype=float)
    slope, intercept = np.polyfit(np.log(ranks), np.log(freqs), 1)
    return {"slope": float(slope), "intercept": float(intercept), "ranks": len(freqs)}


def _length_profile(corpus: dict) -> dict:
    hist: Counter = Counter()
    for w, c in corpus.items():
        hist[len(w)] += c
    tokens = sum(hist.values())
    return {"histogram": {str(k): hist[k] for k in sorted(hist)}, "mean": sum(k * c for k, c in hist.items()) / tokens}


# --- the workflow ------------------------------------------------------------------------------


def _validate(chunks, chapters, words, vocab, keywords):
    if chapters < 1 or chunks % chapters or chunks % 2:
        raise ValueError(
            f"text_analysis needs an even number of chunks divisible by chapters, "
            f"got chunks={chunks} chapters={chapters}"
        )
    if words < 1 or vocab < 1 or keywords < 1:
        raise ValueError("text_analysis needs words, vocab and keywords ≥ 1")


def build(chunks: int = 32, chapters: int = 4, words: int = 1500, vocab: int = 3000, keywords: int = 5, seed: int = 7):
    _validate(chunks, chapters, words, vocab, keywords)
    per = chunks // chapters
    counts = []
    for c in range(chapters):
        chapter = make_chapter(seed, c * per, per, words, vocab)
        counts.extend(count_words(chapter, i) for i in range(per))
    corpus = merge_counts(counts)
    segments = [analyse_segment(corpus, counts[2 * s : 2 * s + 2], s, keywords) for s in range(chunks // 2)]
    return report(
        merge_segments(segments), vocabulary_stats(corpus), zipf_fit(corpus), top_words(corpus), length_profile(corpus)
    )


def expected(
    chunks: int = 32, chapters: int = 4, words: int = 1500, vocab: int = 3000, keywords: int = 5, seed: int = 7
) -> dict:
    """The report computed directly: whole-text and per-segment counts without merging."""
    texts = [_text.chunk_text(seed, i, words, vocab) for i in range(chunks)]
    corpus = _text.count(" ".join(texts))
    segments = [
        _segment(corpus, _text.count(texts[2 * s] + " " + texts[2 * s + 1]), s, keywords) for s in range(chunks // 2)
    ]
    return report.fn(
        _merge_segments(segments),
        _vocabulary_stats(corpus),
        _zipf_fit(corpus),
        top_words.fn(corpus),
        _length_profile(corpus),
    )


def check(result, **params) -> bool:
    return _text.same(result, expected(**params), rel=1e-9)


register(
    LibraryWorkflow(
        "text_analysis",
        "32 chunk word counts → corpus counts → 16 segment and 4 whole-text analyses → report (59 tasks)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
