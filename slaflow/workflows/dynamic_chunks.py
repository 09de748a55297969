"""dynamic_chunks: a fan-out whose width is known only at run time (dynamic map).

        split              (cuts `n` numbers into chunks of at most `chunk`: how many, only it knows)
          |
     crunch.map            (one task per chunk, expanded at run time: the sum of squares of its numbers)
          |
       combine             (the list of partial sums, in order → the total and the number of chunks)

``crunch.map(split(...))`` expands when ``split`` is done: the worker that made
the list releases one task per element (``orchestrator.core.mapping``). Tasks in
the graph: 1 + 1 + 1 = 3; at run time 2 + ⌈n / chunk⌉ (at the defaults,
⌈1000 / 64⌉ = 16 element tasks). ``check`` recomputes the total.
"""

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"n": 1000, "chunk": 64, "work": 2000}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"n": 1_000_000, "chunk": 1_000_000, "work": 10_000_000}


@task
def split(n: int, chunk: int) -> list:
    return [list(range(i, min(n, i + chunk))) for i in range(0, n, chunk)]


@task
def crunch(numbers: list, work: int) -> int:
    total = 0
    for _ in range(max(1, work // 1000)):  # a little CPU per chunk
        total = sum(x * x for x in numbers)
    return total


@task
def combine(parts: list) -> dict:
    return {"total": sum(parts), "chunks": len(parts)}


def build(n: int = 1000, chunk: int = 64, work: int = 2000):
    if n < 0 or chunk < 1 or work < 0:
        raise ValueError(f"dynamic_chunks needs n ≥ 0, chunk ≥ 1 and work ≥ 0, got n={n} chunk={chunk} work={work}")
    return combine(crunch.map(split(n, chunk), work))


def check(result, n: int = 1000, chunk: int = 64, **_) -> bool:
    return isinstance(result, dict) and result == {"total": sum(x * x for x in range(n)), "chunks": -(-n // chunk)}


register(
    LibraryWorkflow(
        "dynamic_chunks",
        "a fan-out whose width is known only at run time (dynamic map)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
