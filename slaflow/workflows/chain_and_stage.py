"""chain_and_stage: a long CPU-bound chain beside a wide CPU-bound stage — more busy branches than cores.

                 seed
        ┌─────────┼──────────┐
      link      crunch … crunch      (width parallel tasks, each `stage_work` iterations)
        │          │         │
      link         │         │       (length links in a chain, each `link_work` iterations)
        │          │         │
       …           │         │
        └─────────┼──────────┘
                 gather               (the chain's end and every stage result)

Every task but ``seed`` and ``gather`` computes: a fixed number of iterations
of a pure-Python generator, so its CPU work is the same on every machine load
— on a host with fewer cores than busy branches the branches share them and
the whole run takes longer than its critical path's work (the timing model's
processor sharing; docs/concepts/capacity.md). At the defaults (length=10,
link_work=1.5M, width=12, stage_work=3M): 1 + 10 + 12 + 1 = 24 tasks, about 1.3 s of chain and
3.1 CPU-s of stage on one core each — 4.4 CPU-s, so on 2 cores the run takes at
least 2.2 s while its critical path is 1.3 s of work. ``check`` recomputes
every value in closed form (the generator is affine: n steps are one affine
map, composed by squaring), so checking costs nothing.
"""

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"length": 10, "link_work": 1_500_000, "width": 12, "stage_work": 3_000_000}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"length": 1000, "link_work": 50_000_000, "width": 1000, "stage_work": 50_000_000}
# Task parameters named unlike the workflow's, bounded alike when a JSON spec calls the task (functions.check_bounds).
TASK_BOUNDS = {"work": 50_000_000}
_MASK = 0x7FFFFFFF


def _spin(x: int, iterations: int) -> int:
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) & _MASK
    return x


@task
def seed() -> int:
    return 1


@task
def link(x: int, work: int) -> int:
    return _spin(x, work)


@task
def crunch(x: int, k: int, work: int) -> int:
    return _spin(x + k, work)


@task
def gather(chain_end: int, stage: list) -> list:
    return [chain_end, sum(stage) & _MASK]


def _validate(length, link_work, width, stage_work):
    if length < 1 or width < 1 or link_work < 0 or stage_work < 0:
        raise ValueError(
            f"chain_and_stage needs length, width ≥ 1 and work ≥ 0, got length={length} "
            f"link_work={link_work} width={width} stage_work={stage_work}"
        )


def build(length: int = 10, link_work: int = 1_500_000, width: int = 12, stage_work: int = 3_000_000):
    _validate(length, link_work, width, stage_work)
    root = seed()
    node = root
    for _ in range(length):
        node = link(node, link_work)
    return gather(node, [crunch(root, k, stage_work) for k in range(width)])


def _jump(x: int, iterations: int) -> int:
    """``_spin`` in O(log n): x → a·x + c (mod 2^31) applied n times is one affine map."""
    a, c = 1103515245, 12345
    mul, add = 1, 0  # the map so far: x → mul·x + add
    while iterations:
        if iterations & 1:
            mul, add = (a * mul) & _MASK, (a * add + c) & _MASK
        a, c = (a * a) & _MASK, (a * c + c) & _MASK
        iterations >>= 1
    return (mul * x + add) & _MASK


def expected(length: int = 10, link_work: int = 1_500_000, width: int = 12, stage_work: int = 3_000_000) -> list:
    x = 1
    for _ in range(length):
        x = _jump(x, link_work)
    return [x, sum(_jump(1 + k, stage_work) for k in range(width)) & _MASK]


def check(result, **params) -> bool:
    return isinstance(result, list) and result == expected(**params)


register(
    LibraryWorkflow(
        "chain_and_stage",
        "a long CPU-bound chain beside a wide CPU-bound stage: more busy branches than cores (the capacity model)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
