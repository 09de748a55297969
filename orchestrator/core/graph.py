"""The workflow graph as plain data, and pure functions over it.

A graph is ``dict[node_id, Node]``. A node names an importable function and
holds its arguments; an argument that refers to another node's output is a
``Ref`` (refs may sit inside lists, tuples and dict values). Nothing here does
I/O or imports task code; nothing mutates a graph it is given.

    >>> g = {
    ...     "a": Node("a", "m.f", args=(1,)),
    ...     "b": Node("b", "m.g", args=(Ref("a"),)),
    ...     "c": Node("c", "m.h", args=([Ref("a"), Ref("b")],)),
    ... }
    >>> toposort(g)
    ['a', 'b', 'c']
    >>> sink(g), roots(g)
    ('c', ['a'])

Orders are decided by structure (a depth-first walk from the sink following
arguments in order), never by node names or dict order, so renaming nodes
never changes a plan.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

# Keyword arguments or options as given to ``Node``: a mapping, or (key, value) pairs as stored.
Pairs = Mapping[str, Any] | tuple[tuple[str, Any], ...]

NODE_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


class GraphError(ValueError):
    """A graph slaflow cannot run; the message names the problem."""


class CycleError(GraphError):
    def __init__(self, cycle: list[str]):
        self.cycle = cycle
        super().__init__("the graph has a cycle: " + " -> ".join(cycle))


class MissingRefError(GraphError):
    pass


class SinkError(GraphError):
    pass


@dataclass(frozen=True)
class Ref:
    """A reference to another node's output inside a node's arguments."""

    node_id: str


@dataclass(frozen=True, init=False)
class Node:
    """A task: ``kwargs`` and ``options`` may be given as mappings or as (key, value) pairs and are
    stored as pairs; ``upstream`` is derived from the arguments when omitted (None)."""

    id: str
    function: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    # Planner hints the author forced on this task (e.g. optimizations).
    options: tuple[tuple[str, Any], ...] = ()
    upstream: tuple[str, ...] = ()

    def __init__(
        self,
        id: str,
        function: str,
        args: Iterable[Any] = (),
        kwargs: Pairs = (),
        options: Pairs = (),
        upstream: tuple[str, ...] | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "kwargs", tuple(kwargs.items()) if isinstance(kwargs, Mapping) else kwargs)
        object.__setattr__(self, "options", tuple(options.items()) if isinstance(options, Mapping) else options)
        if upstream is None:
            seen: dict[str, None] = {}
            for ref in iter_refs((self.args, dict(self.kwargs))):
                seen.setdefault(ref.node_id, None)
            upstream = tuple(seen)
        object.__setattr__(self, "upstream", upstream)

    @property
    def kwargs_dict(self) -> dict:
        return dict(self.kwargs)

    @property
    def options_dict(self) -> dict:
        return dict(self.options)


Graph = Mapping[str, Node]


def iter_refs(value: Any) -> Iterator[Ref]:
    """Every Ref inside ``value``, in argument order."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Ref):
            yield item
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))


def substitute(value: Any, outputs: Mapping[str, Any]) -> Any:
    """``value`` with every Ref replaced by ``outputs[ref.node_id]``."""
    if isinstance(value, Ref):
        return outputs[value.node_id]
    if isinstance(value, list):
        return [substitute(v, outputs) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute(v, outputs) for v in value)
    if isinstance(value, dict):
        return {k: substitute(v, outputs) for k, v in value.items()}
    return value


def dependencies(graph: Graph, node_id: str) -> tuple[str, ...]:
    return graph[node_id].upstream


def dependents(graph: Graph) -> dict[str, list[str]]:
    """node id → ids of the nodes that consume its output (in structural order)."""
    out: dict[str, list[str]] = {nid: [] for nid in graph}
    for nid in _walk_order(graph):
        for up in graph[nid].upstream:
            if up in out:
                out[up].append(nid)
    return out


def roots(graph: Graph) -> list[str]:
    return [nid for nid in _walk_order(graph) if not graph[nid].upstream]


def sinks(graph: Graph) -> list[str]:
    consumed = {up for node in graph.values() for up in node.upstream}
    return [nid for nid in _walk_order(graph) if nid not in consumed]


def sink(graph: Graph) -> str:
    found = sinks(graph)
    if len(found) != 1:
        raise SinkError(_sink_message(found))
    return found[0]


def _sink_message(found: list[str]) -> str:
    if not found:
        return "the graph has no sink (a task whose output nobody consumes)"
    return f"the graph has {len(found)} sinks ({', '.join(sorted(found))}); a workflow must end in exactly one task"


def find_cycle(graph: Graph) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]``, or None. Only follows refs to existing nodes."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in sorted(graph):
        if start in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start].upstream))]
        state[start] = 1
        path.append(start)
        while stack:
            nid, ups = stack[-1]
            nxt = next((u for u in ups if u in graph and state.get(u) != 2), None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[nid] = 2
                continue
            if state.get(nxt) == 1:
                # Edges point consumer → producer here; report in data-flow order.
                cycle = path[path.index(nxt) :] + [nxt]
                return list(reversed(cycle))
            state[nxt] = 1
            path.append(nxt)
            stack.append((nxt, iter(graph[nxt].upstream)))
    return None


def validate(graph: Graph) -> str:
    """Check that ``graph`` can run; returns its sink id. Raises GraphError."""
    if not graph:
        raise GraphError("the graph has no tasks")
    for nid, node in graph.items():
        if nid != node.id:
            raise GraphError(f"node stored under {nid!r} says its id is {node.id!r}")
        if not isinstance(nid, str) or not NODE_ID_RE.match(nid):
            raise GraphError(f"node id {nid!r} must be 1-200 letters, digits or _ . : -")
        if not isinstance(node.function, str) or not node.function.strip():
            raise GraphError(f"node {nid!r} names no function")
        for up in node.upstream:
            if up not in graph:
                raise MissingRefError(f"node {nid!r} refers to a missing node {up!r}")
    cycle = find_cycle(graph)
    if cycle:
        raise CycleError(cycle)
    if not roots(graph):
        raise GraphError("the graph has no root (a task with no upstream tasks)")
    _check_maps(graph)
    return sink(graph)


def _check_maps(graph: Graph) -> None:
    """Every mapped node (``options["map"]``, a dynamic fan-out: ``orchestrator.core.mapping``) maps over one
    of its upstream tasks and takes no other task output."""
    for nid, node in graph.items():
        over = node.options_dict.get("map")
        if over is None:
            continue
        if not isinstance(over, str) or over not in node.upstream:
            raise GraphError(f"node {nid!r} maps over {over!r}, which is not one of its inputs")
        others = [u for u in node.upstream if u != over]
        if others:
            raise GraphError(
                f"mapped node {nid!r} takes task outputs only through {over!r}, not "
                f"{', '.join(map(repr, others))}: pass constants, or map over a task that combines them"
            )


# The latest graphs walked, held (so their ids cannot be reused) with their size and order: one
# submission asks for roots, the sink, a topological order and dependents of the same graph, and each
# walk of 1,000 nodes costs milliseconds. Graphs are never mutated once built (see the module doc);
# the size check catches a caller that adds nodes anyway.
_WALKS: list[tuple[Graph, int, list[str]]] = []


def _walk_order(graph: Graph) -> list[str]:
    """Post-order depth-first walk from the sink(s) along arguments in order.

    The result is a topological order that depends only on structure. Several
    sinks (rejected by ``validate``) are visited in order of their structural
    signature so the order stays name-independent even then.
    """
    for seen, size, order in _WALKS:
        if seen is graph and size == len(graph):
            return list(order)
    order = _walk(graph)
    _WALKS.insert(0, (graph, len(graph), order))
    del _WALKS[4:]
    return list(order)


def _walk(graph: Graph) -> list[str]:
    consumed = {up for node in graph.values() for up in node.upstream}
    starts = [nid for nid in graph if nid not in consumed]
    if len(starts) > 1:
        sigs = node_signatures(graph)
        starts.sort(key=lambda n: sigs[n])
    return _post_order(graph, starts or list(graph))


def _post_order(graph: Graph, starts: list[str]) -> list[str]:
    order: list[str] = []
    done: set[str] = set()
    on_path: set[str] = set()
    for start in list(starts) + list(graph):  # then anything only reachable through a cycle
        if start in done:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        on_path.add(start)
        while stack:
            nid, i = stack.pop()
            ups = graph[nid].upstream
            while i < len(ups) and (ups[i] not in graph or ups[i] in done or ups[i] in on_path):
                i += 1
            if i < len(ups):
                stack.append((nid, i + 1))
                stack.append((ups[i], 0))
                on_path.add(ups[i])
                continue
            on_path.discard(nid)
            done.add(nid)
            order.append(nid)
    return order


def toposort(graph: Graph) -> list[str]:
    """Node ids, every producer before its consumers. Raises CycleError."""
    cycle = find_cycle(graph)
    if cycle:
        raise CycleError(cycle)
    return _walk_order(graph)


def node_signatures(graph: Graph) -> dict[str, str]:
    """A hash per node of its function and everything upstream of it (Merkle style)."""
    consumed = {up for node in graph.values() for up in node.upstream}
    sigs: dict[str, str] = {}
    for nid in _post_order(graph, [n for n in graph if n not in consumed]):
        # Inside a cycle an upstream may not be signed yet: use a name-free mark.
        ups = [sigs.get(u, "cycle") for u in graph[nid].upstream if u in graph]
        text = graph[nid].function + "(" + ",".join(ups) + ")"
        sigs[nid] = hashlib.sha256(text.encode()).hexdigest()[:24]
    return sigs


def structure_hash(graph: Graph) -> str:
    """Identity of a workflow's shape: function names and edges, never values or ids."""
    sigs = sorted(node_signatures(graph).values())
    return hashlib.sha256("|".join(sigs).encode()).hexdigest()[:20]


def depth_levels(graph: Graph) -> dict[str, int]:
    """Topological layer of each node (roots are 0), for layouts."""
    level: dict[str, int] = {}
    for nid in toposort(graph):
        ups = graph[nid].upstream
        level[nid] = 1 + max((level[u] for u in ups), default=-1)
    return level
