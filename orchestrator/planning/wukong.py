"""WUKONG: every task on a flexible worker of one configuration; no predictions.

Whoever finishes a task continues with one ready child; the others go to the
run's executors (see workers.readiness). ``wukong-opt`` adds task clustering
and delayed I/O (``optimizations.clustering``), decided on each output's size
as it is made.
"""
from __future__ import annotations

from orchestrator import optimizations
from orchestrator.graph import Graph
from orchestrator.planning.plan import Plan, TaskPlan


def plan(graph: Graph, predictor, config) -> Plan:
    memory_mb = config.default_memory_mb
    out = Plan(
        planner=config.planner,
        sla=config.sla,
        tasks={nid: TaskPlan(node_id=nid, memory_mb=memory_mb, worker=None) for nid in graph},
        note=f"WUKONG: flexible workers on {memory_mb} MB",
    )
    out.set_uploads(graph)
    annotations = optimizations.annotate(out, graph, predictor, names=tuple(config.optimizations),
                                         params=config.optimization_params, flexible=True)
    for nid, chosen in annotations.items():
        out.tasks[nid].annotations.update(chosen)
    if annotations:
        out.note += f"; {optimizations.summary(annotations)}"
    return out


def flexible_fallback(graph: Graph, config, memory_mb: int, reason: str) -> Plan:
    """The plan every planner falls back to without history."""
    out = Plan(
        planner=config.planner,
        sla=config.sla,
        tasks={nid: TaskPlan(node_id=nid, memory_mb=memory_mb, worker=None) for nid in graph},
        fallback=True,
        note=reason,
    )
    out.set_uploads(graph)
    return out
