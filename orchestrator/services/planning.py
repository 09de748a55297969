"""Planning as a service: gather what the pure planners need, call them, time it."""
from __future__ import annotations

import time

from django.conf import settings

from orchestrator import planning
from orchestrator.planning.plan import Plan


def planner_config(planner: str, sla: str) -> planning.PlannerConfig:
    return planning.PlannerConfig(
        planner=planner,
        sla=sla,
        memory_options=tuple(settings.SLAFLOW_RESOURCE_CONFIGS),
        default_memory_mb=settings.SLAFLOW_DEFAULT_MEMORY_MB,
        keepalive_s=float(settings.SLAFLOW_KEEPALIVE_S),
    )


def load_predictor(structure_hash: str):
    """History of this workflow shape for the predictor (planners that need none ignore it)."""
    return None


def make_plan(graph, *, planner: str, sla: str, structure_hash: str) -> Plan:
    fn = planning.get(planner)
    config = planner_config(planner, sla)
    t0 = time.perf_counter()
    plan = fn(graph, load_predictor(structure_hash), config)
    plan.planning_time_s = time.perf_counter() - t0
    return plan
