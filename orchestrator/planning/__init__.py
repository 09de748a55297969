"""Planning: pure functions ``plan(graph, predictor, config) -> Plan``.

Planners never touch the database or Redis; ``orchestrator.services.planning``
loads history into a predictor and calls them. Register planners in
``PLANNERS``; an ``-opt`` variant is its base planner with the optimizations
``orchestrator.optimizations.for_planner`` names applied by rule
(``PlannerConfig.optimizations``). The rules themselves are a layer above
planning: services hand them in (``PlannerConfig.rules``, ``planning.rules``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from orchestrator.planning import nonuniform, uniform, wukong
from orchestrator.planning.config import PlannerConfig

if TYPE_CHECKING:
    from orchestrator.core.graph import Graph
    from orchestrator.planning.plan import Plan
    from orchestrator.planning.predictor import Predictor


PLANNERS = {
    "wukong": wukong.plan,
    "uniform": uniform.plan,
    "non-uniform": nonuniform.plan,
}

OPT_NOTE = (
    "-opt variants of uniform and non-uniform add PreLoad, PreWarm, TaskDup and output streaming; "
    "wukong-opt adds task clustering, delayed I/O and output streaming"
)


class PlannerError(ValueError):
    pass


def base_name(planner: str) -> str:
    return planner[:-4] if planner.endswith("-opt") else planner


def names() -> list[str]:
    return sorted(PLANNERS) + sorted(f"{p}-opt" for p in PLANNERS)


def get(planner: str) -> Callable[[Graph, Predictor | None, PlannerConfig], Plan]:
    if not isinstance(planner, str) or base_name(planner) not in PLANNERS:
        raise PlannerError(f"unknown planner {planner!r} (choose from {', '.join(names())})")
    return PLANNERS[base_name(planner)]
