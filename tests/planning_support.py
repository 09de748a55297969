"""Helpers for planning tests: graphs from edge lists, renaming, histories with known answers."""

from __future__ import annotations

from orchestrator import optimizations
from orchestrator.core.graph import Node, Ref
from orchestrator.planning import PlannerConfig
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample

OPTIONS = (512, 1024, 2048)


def graph(edges: dict[str, tuple[str, list[str]]], order=None) -> dict[str, Node]:
    """{id: (function, [upstream ids])} → graph; ``order`` sets dict insertion order."""
    ids = order or list(edges)
    return {nid: Node(nid, edges[nid][0], args=tuple(Ref(u) for u in edges[nid][1]) or (0,)) for nid in ids}


def renamed(g: dict[str, Node], ids: dict[str, str], fns: dict[str, str]) -> dict[str, Node]:
    """The same structure with other ids and function names, inserted in reverse order."""
    out = {}
    for nid in reversed(list(g)):
        node = g[nid]
        args = tuple(Ref(ids[a.node_id]) if isinstance(a, Ref) else a for a in node.args)
        out[ids[nid]] = Node(ids[nid], fns[node.function], args=args)
    return out


def history(
    exec_s: dict[str, dict[int, float]],
    *,
    out_bytes: int = 100,
    samples: int = 8,
    cold_s: float = 0.5,
    warm_s: float = 0.01,
    transfer_s: float = 0.001,
    post_s: float = 0.0,
    spread: float = 0.0,
) -> History:
    """Every function with a fixed exec time per memory size (±``spread`` relative, evenly spaced)."""
    h = History()
    for fn, by_mb in exec_s.items():
        for mb, t in by_mb.items():
            for k in range(samples):
                f = 1.0 + (spread * (2 * k / (samples - 1) - 1) if samples > 1 else 0.0)
                h.add_task(fn, mb, TaskSample(0, t * f, out_bytes, post_s=post_s))
    for mb in OPTIONS:
        for _ in range(samples):
            h.add_download(mb, TransferSample(out_bytes, transfer_s))
            h.add_upload(mb, TransferSample(out_bytes, transfer_s))
            h.add_store(mb, TransferSample(out_bytes, transfer_s))
            h.add_startup(mb, "new", StartupSample(cold_s, cold_s / 2))
            h.add_startup(mb, "cold", StartupSample(cold_s, cold_s / 2))
            h.add_startup(mb, "warm", StartupSample(warm_s, 0.0))
    return h


def config(planner: str = "uniform", sla: str = "p90", **kw) -> PlannerConfig:
    kw.setdefault("memory_options", OPTIONS)
    kw.setdefault("default_memory_mb", 2048)
    kw.setdefault("pool_size", None)
    kw.setdefault("rules", optimizations)  # the rules layer, as services hand it to planners
    return PlannerConfig(planner=planner, sla=sla, **kw)


def same_everywhere(fns, t: float) -> dict[str, dict[int, float]]:
    return {fn: {mb: t for mb in OPTIONS} for fn in fns}
