"""WUKONG: every task on a flexible worker of one configuration; no predictions.

Whoever finishes a task continues with one ready child and launches new
branches for the others (see workers.runtime).
"""
from __future__ import annotations

from orchestrator.graph import Graph
from orchestrator.planning.plan import Plan, TaskPlan


def plan(graph: Graph, predictor, config) -> Plan:
    memory_mb = config.default_memory_mb
    return Plan(
        planner=config.planner,
        sla=config.sla,
        tasks={nid: TaskPlan(node_id=nid, memory_mb=memory_mb, worker=None) for nid in graph},
        note=f"WUKONG: flexible workers on {memory_mb} MB",
    )


def flexible_fallback(graph: Graph, config, memory_mb: int, reason: str) -> Plan:
    """The plan every planner falls back to without history."""
    return Plan(
        planner=config.planner,
        sla=config.sla,
        tasks={nid: TaskPlan(node_id=nid, memory_mb=memory_mb, worker=None) for nid in graph},
        fallback=True,
        note=reason,
    )
