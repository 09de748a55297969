"""fanouts_fanins: stages alternating a wide fan-out with a fan-in.

            start                 (root: the seed)
        ┌─────┼─────┐
     spread spread … spread       (width tasks: x·(i+1) + stage, mod P)
        └─────┼─────┘
           gather                 (sum mod P)
        ┌─────┼─────┐
     spread spread … spread       (next stage fans out from the gathered value)
        └─────┼─────┘
           gather     …           (stages times)

Tasks: 1 + stages × (width + 1); at the defaults (width=16, stages=3): 1 + 3 × 17 = 52.
``check`` recomputes the arithmetic in a loop.
"""

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

P = 1_000_003
DEFAULTS = {"width": 16, "stages": 3, "seed": 2}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"width": 1000, "stages": 100, "seed": 2**32}


@task
def start(seed: int) -> int:
    return seed % P


@task
def spread(x: int, stage: int, index: int) -> int:
    return (x * (index + 1) + stage) % P


@task
def gather(values: list, stage: int) -> int:
    return (sum(values) + stage) % P


def build(width: int = 16, stages: int = 3, seed: int = 2):
    if width < 1 or stages < 1:
        raise ValueError(f"fanouts_fanins needs width and stages ≥ 1, got width={width} stages={stages}")
    x = start(seed)
    for s in range(stages):
        x = gather([spread(x, s, i) for i in range(width)], s)
    return x


def expected(width: int = 16, stages: int = 3, seed: int = 2) -> int:
    x = seed % P
    for s in range(stages):
        x = (sum((x * (i + 1) + s) % P for i in range(width)) + s) % P
    return x


def check(result, **params) -> bool:
    return type(result) is int and result == expected(**params)


register(
    LibraryWorkflow(
        "fanouts_fanins",
        "stages of width-wide fan-outs, each gathered by one fan-in",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
