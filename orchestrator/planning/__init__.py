"""Planning: pure functions ``plan(graph, predictor, config) -> Plan``.

Planners never touch the database or Redis; ``orchestrator.services.planning``
loads history into a predictor and calls them. Register planners in
``PLANNERS``; ``-opt`` variants share a planner and add optimizations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.planning import wukong


@dataclass(frozen=True)
class PlannerConfig:
    planner: str
    sla: str
    memory_options: tuple[int, ...]
    default_memory_mb: int
    keepalive_s: float = 7.0
    optimizations: tuple[str, ...] = field(default_factory=tuple)
    seed: int = 0


PLANNERS = {
    "wukong": wukong.plan,
}


class PlannerError(ValueError):
    pass


def base_name(planner: str) -> str:
    return planner[:-4] if planner.endswith("-opt") else planner


def names() -> list[str]:
    return sorted(PLANNERS) + sorted(f"{p}-opt" for p in PLANNERS)


def get(planner: str):
    if not isinstance(planner, str) or base_name(planner) not in PLANNERS:
        raise PlannerError(f"unknown planner {planner!r} (choose from {', '.join(names())})")
    return PLANNERS[base_name(planner)]
