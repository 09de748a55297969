"""unix_words: word counts through Unix programs (executables as tasks).

        text                 (Python: `words` pseudo-random words from `vocab`, in `chunks` lines)
          |
     tr -s ' ' '\\n'          (one word per line, on stdin)
          |
        sort
        /   \\
  uniq -c   wc -l {lines}    (counts per word on stdin; the number of lines, from a file input)
        \\   /
        report               (Python: the `top` most frequent words and the total)

Each program runs as a task (``orchestrator.core.commands``): argv lists, never
a shell; only programs on ``SLAFLOW_ALLOWED_EXECUTABLES`` (``tr``, ``sort``,
``uniq`` and ``wc`` are on the default list), with options their policies
accept (``-s``, ``-c``, ``-l``) and the sorted words as a file input named by
its placeholder; sandboxed where the worker can. Where one of the programs is
not allowed the workflow is listed as unavailable. Tasks: 1 + 1 + 1 + 2 + 1 = 6.
``check`` counts in Python.
"""

import random
from collections import Counter

from orchestrator.core.authoring import task
from orchestrator.core.commands import command
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"words": 2000, "vocab": 50, "chunks": 20, "top": 5, "seed": 3}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"words": 1_000_000, "vocab": 1_000_000, "chunks": 1000, "top": 1000, "seed": 2**32}


def _words(words: int, vocab: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"w{rng.randrange(vocab)}" for _ in range(words)]


@task
def text(words: int, vocab: int, chunks: int, seed: int) -> str:
    items = _words(words, vocab, seed)
    per = max(1, len(items) // chunks)
    return "\n".join(" ".join(items[i : i + per]) for i in range(0, len(items), per)) + "\n"


@task
def report(counted: bytes, lines: bytes, top: int) -> dict:
    pairs = [line.split() for line in counted.decode().splitlines() if line.strip()]
    counts = sorted(((int(n), w) for n, w in pairs), key=lambda p: (-p[0], p[1]))
    return {"top": [[w, n] for n, w in counts[:top]], "words": int(lines.split()[0])}


def build(words: int = 2000, vocab: int = 50, chunks: int = 20, top: int = 5, seed: int = 3):
    if words < 1 or vocab < 1 or chunks < 1 or top < 1:
        raise ValueError(
            f"unix_words needs words, vocab, chunks and top ≥ 1, got words={words} vocab={vocab} "
            f"chunks={chunks} top={top}"
        )
    one_per_line = command(["tr", "-s", " ", "\\n"], stdin=text(words, vocab, chunks, seed))
    ordered = command(["sort"], stdin=one_per_line)
    return report(
        command(["uniq", "-c"], stdin=ordered), command(["wc", "-l", "{lines}"], files={"lines": ordered}), top
    )


def check(result, words: int = 2000, vocab: int = 50, seed: int = 3, top: int = 5, **_) -> bool:
    counts = Counter(_words(words, vocab, seed))
    expected = [[w, n] for w, n in sorted(counts.items(), key=lambda p: (-p[1], p[0]))[:top]]
    return isinstance(result, dict) and result.get("top") == expected and result.get("words") == words


register(
    LibraryWorkflow(
        "unix_words", "word counts through Unix programs (executables as tasks)", build, check, dict(DEFAULTS), BOUNDS
    )
)
