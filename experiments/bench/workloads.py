"""The runtime benchmark's workloads: one graph each, run as is by slaflow and by Dask.

Each workload builds a slaflow graph from ``experiments.bench.tasks``;
``dask_graph`` turns the same graph into a Dask task graph (the same plain
functions, refs become keys), so both systems compute exactly the same thing
and their results can be compared.

    >>> w = WORKLOADS["fanout"]
    >>> len(w.graph(1000))
    1002
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from experiments.bench import tasks as t
from orchestrator.core.authoring import build_graph
from orchestrator.core.graph import Graph, Ref, sink
from workers import functions


def chain(n: int):
    x = t.inc(0)
    for _ in range(n - 1):
        x = t.inc(x)
    return x


def fanout(n: int):
    root = t.noop(0)
    return t.total([t.add(root, i) for i in range(n)])


def fanout_of(tasks: int) -> Graph:
    """The fan-out with ``tasks`` tasks in all: a root, ``tasks - 2`` additions, one sum (``bench load``'s
    runs, submitted by ``load_client``)."""
    return build_graph(fanout(max(1, tasks - 2)))


def _pairwise(level: list):
    """Add neighbours level by level (an odd one out moves up as it is) down to one node."""
    while len(level) > 1:
        level = [t.add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)] + level[len(level) // 2 * 2 :]
    return level[0]


def tree(leaves: int):
    """A binary tree of additions over ``leaves`` leaf tasks: 2·leaves − 1 tasks."""
    return _pairwise([t.noop(i) for i in range(leaves)])


def array_tree(leaves: int, size: int = 1 << 20):
    """WUKONG's tree reduction over numpy arrays: leaves generate float64 vectors, additions pair them."""
    return _pairwise([t.array(i, size) for i in range(leaves)])


def gemm(n: int, seed: int = 3):
    """Blocked C = A·B in 2 × 2 blocks of n/2: a task per block of A and B, one per block product
    A_ik·B_kj, one sum per block of C (Σ_k), one assembly: 21 tasks."""
    nb, block = 2, n // 2
    a = {(i, k): t.block(seed, i, k, block) for i in range(nb) for k in range(nb)}
    b = {(k, j): t.block(seed + 1, k, j, block) for k in range(nb) for j in range(nb)}
    cells = [t.add_blocks([t.matmul(a[i, k], b[k, j]) for k in range(nb)]) for i in range(nb) for j in range(nb)]
    return t.assemble(cells, nb)


def tsqr_svd(blocks: int, rows: int = 40_000, cols: int = 200, seed: int = 4):
    """Singular values of a tall-skinny matrix by blocked QR: R of each row block, R of the stacked
    Rs, σ of that R (A = QR ⇒ σ(A) = σ(R))."""
    rs = [t.qr_r(t.tall_block(seed, i, rows, cols)) for i in range(blocks)]
    return t.svd_of_r(t.stack_qr_r(rs))


@dataclass(frozen=True)
class Workload:
    name: str
    build: Callable[[int], Any]
    size: int  # the default size parameter
    what: str
    compute: bool  # real compute (makespan is compared with the critical path's compute time)

    def graph(self, size: int | None = None) -> Graph:
        return build_graph(self.build(self.size if size is None else size))


WORKLOADS = {
    w.name: w
    for w in (
        Workload("chain", chain, 1000, "no-op chain of N", False),
        Workload("fanout", fanout, 1000, "fan-out of N no-op tasks into one sum", False),
        Workload("tree", tree, 1024, "tree reduction of N leaves (2N-1 no-op tasks)", False),
        Workload("array_tree", array_tree, 32, "tree reduction of N numpy vectors of 8 MB", True),
        Workload("gemm", gemm, 2048, "blocked GEMM of two NxN matrices in 2x2 blocks", True),
        Workload("tsqr_svd", tsqr_svd, 8, "tall-skinny SVD by blocked QR of N blocks of 40000x200", True),
    )
}


def dask_graph(graph: Graph, suffix: str = "") -> tuple[dict, str]:
    """The same computation as a Dask task graph, and the key of its result; every key ends in
    ``suffix`` (a run of its own: Dask distributed keeps a key's result while the scheduler has not yet
    released it, and a repeat with the same keys reused the last run's results instead of computing)."""
    from dask.utils import apply

    def arg(value):
        if isinstance(value, Ref):
            return value.node_id + suffix
        if isinstance(value, list):
            return [arg(v) for v in value]
        if isinstance(value, tuple):
            return (tuple, [arg(v) for v in value])  # a plain tuple would read as a task
        if isinstance(value, dict):
            return (dict, [[k, arg(v)] for k, v in value.items()])
        return value

    dsk = {}
    for nid, node in graph.items():
        fn = functions.resolve(node.function)
        args = [arg(a) for a in node.args]
        if node.kwargs:
            dsk[nid + suffix] = (apply, fn, args, (dict, [[k, arg(v)] for k, v in node.kwargs]))
        else:
            dsk[nid + suffix] = (fn, *args)
    return dsk, sink(graph) + suffix


def same_result(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=1e-9, atol=1e-9))
    return a == b
