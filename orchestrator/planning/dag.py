"""The graph as integer-indexed arrays, in structural topological order.

Planners work on positions, not names: position ``i`` is the i-th node of
``graph.toposort`` (a depth-first walk from the sink along arguments), so
every order and tie-break below follows structure. Renaming nodes or
building the dict in another order gives the same indices.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.graph import Graph, dependents, sink, toposort


@dataclass(frozen=True)
class Dag:
    ids: tuple[str, ...]
    fn: tuple[str, ...]
    ups: tuple[tuple[int, ...], ...]
    downs: tuple[tuple[int, ...], ...]
    sink: int

    @property
    def n(self) -> int:
        return len(self.ids)

    def roots(self) -> list[int]:
        return [i for i in range(self.n) if not self.ups[i]]


def index(graph: Graph) -> Dag:
    order = toposort(graph)
    pos = {nid: i for i, nid in enumerate(order)}
    deps = dependents(graph)
    return Dag(
        ids=tuple(order),
        fn=tuple(graph[nid].function for nid in order),
        ups=tuple(tuple(pos[u] for u in graph[nid].upstream) for nid in order),
        downs=tuple(tuple(pos[d] for d in deps[nid]) for nid in order),
        sink=pos[sink(graph)],
    )
