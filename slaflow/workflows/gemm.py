"""gemm: blocked matrix product C = A·B of generated n×n matrices.

  a_panel ×nb          b_panel ×nb        (roots: A's row panels i, B's column panels j,
        \\               /                  generated from seed and i / j)
         \\             /
      multiply ×nb² (i, j)                (C_ij = A_i·B_j = Σ_k A_ik·B_kj, one block × block product)
                 │
             assemble                     (sink: the n×n matrix C)

With nb = n / block: every A panel feeds the nb products of its block row,
every B panel the nb products of its block column, and the nb² blocks fan in
to one aggregate. Tasks at the defaults (n=512, block=128, nb=4):
4 + 4 + 16 + 1 = 25. ``check`` regenerates A and B from the seed and compares
with ``A @ B`` (``np.allclose``).
"""

import numpy as np

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"n": 512, "block": 128, "seed": 5}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"n": 4096, "block": 4096, "seed": 2**32}


def _a_panel(seed: int, i: int, block: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, 0, i]).standard_normal((block, n))


def _b_panel(seed: int, j: int, block: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, 1, j]).standard_normal((n, block))


@task
def a_panel(seed: int, i: int, block: int, n: int) -> np.ndarray:
    """Rows i·block … (i+1)·block-1 of A."""
    return _a_panel(seed, i, block, n)


@task
def b_panel(seed: int, j: int, block: int, n: int) -> np.ndarray:
    """Columns j·block … (j+1)·block-1 of B."""
    return _b_panel(seed, j, block, n)


@task
def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a @ b


@task
def assemble(blocks: list, nb: int) -> np.ndarray:
    """Row-major output blocks into C."""
    return np.block([blocks[i * nb : (i + 1) * nb] for i in range(nb)])


def _validate(n: int, block: int) -> int:
    if block < 1 or n < block or n % block:
        raise ValueError(f"gemm needs n to be a multiple of block, got n={n} block={block}")
    return n // block


def build(n: int = 512, block: int = 128, seed: int = 5):
    nb = _validate(n, block)
    rows = [a_panel(seed, i, block, n) for i in range(nb)]
    cols = [b_panel(seed, j, block, n) for j in range(nb)]
    return assemble([multiply(rows[i], cols[j]) for i in range(nb) for j in range(nb)], nb)


def check(result, n: int = 512, block: int = 128, seed: int = 5) -> bool:
    nb = _validate(n, block)
    a = np.vstack([_a_panel(seed, i, block, n) for i in range(nb)])
    b = np.hstack([_b_panel(seed, j, block, n) for j in range(nb)])
    return isinstance(result, np.ndarray) and result.shape == (n, n) and bool(np.allclose(result, a @ b))


register(
    LibraryWorkflow(
        "gemm",
        "blocked n×n matrix product: row and column panels, one task per output block, one aggregate",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
