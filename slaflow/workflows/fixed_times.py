"""fixed_times: the calibration workload, parallel chains of tasks that sleep a known time.

             origin                    (root: returns 0 at once)
        ┌──────┼──────┐
      step   step … step               (chains: each step sleeps `seconds`, returns count + 1)
        │      │      │
      step   step   step               (length steps per chain)
        │      │      │
        └──────┼──────┘
             join                      (returns the chains' final counts, no sleep)

Tasks: chains × length + 2; at the defaults (chains=4, length=5, seconds=0.2):
4 × 5 + 2 = 22, each chain sleeping 1 s in all. Work besides the sleep is
trivial on purpose, so execution times are known in advance (SLA calibration).
``check`` expects ``[length] * chains``.
"""

import time

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"chains": 4, "length": 5, "seconds": 0.2}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"chains": 1000, "length": 1000, "seconds": 60.0}


@task
def origin() -> int:
    return 0


@task
def step(count: int, seconds: float) -> int:
    time.sleep(seconds)
    return count + 1


@task
def join(counts: list) -> list:
    return list(counts)


def build(chains: int = 4, length: int = 5, seconds: float = 0.2):
    if chains < 1 or length < 1 or seconds < 0:
        raise ValueError(
            f"fixed_times needs chains, length ≥ 1 and seconds ≥ 0, "
            f"got chains={chains} length={length} seconds={seconds}"
        )
    root = origin()
    ends = []
    for _ in range(chains):
        node = root
        for _ in range(length):
            node = step(node, seconds)
        ends.append(node)
    return join(ends)


def check(result, chains: int = 4, length: int = 5, seconds: float = 0.2) -> bool:
    return isinstance(result, list) and all(type(c) is int for c in result) and result == [length] * chains


register(
    LibraryWorkflow(
        "fixed_times",
        "parallel chains of fixed-time sleeps between a root and a join (SLA calibration)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
