"""tree_reduction: sum 0..N-1 pairwise in a binary tree (N-1 additions).

0  1   2  3     (leaves are constants)
 \\/     \\/
 add    add
    \\  /
     add      → N·(N-1)/2, e.g. 2016 for N=64
"""

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register


@task
def add(a, b):
    return a + b


def build(n: int = 64):
    if n < 2 or n & (n - 1):
        raise ValueError(f"tree_reduction needs n to be a power of two ≥ 2, got {n}")
    level = [add(2 * i, 2 * i + 1) for i in range(n // 2)]
    while len(level) > 1:
        level = [add(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def check(result, n: int = 64) -> bool:
    return result == n * (n - 1) // 2


register(
    LibraryWorkflow(
        "tree_reduction", "sum of 0..N-1 by pairwise additions (N-1 tasks)", build, check, {"n": 64}, {"n": 1 << 16}
    )
)
