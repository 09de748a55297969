"""Plan previews: what each planner would promise for a workflow at each SLA, without running it.

Nothing is stored and nothing is dispatched; the planners see the same
history a submission by the same user would (``services.planning.scope``).
"""
from __future__ import annotations

from typing import Any, Iterable

from workers import functions

from orchestrator.core import graph as graph_mod
from orchestrator.services import planning as planning_service
from orchestrator.services import submissions
from orchestrator.services import runs as run_services
from orchestrator.services.runs import SubmissionError

MAX_COMBINATIONS = 48  # plans one preview may make (planners × SLAs): 48 plans of 1,000 tasks take ~0.5 s


def check_choices(planners: Iterable[str], slas: Iterable[str]) -> tuple[list[str], list[str]]:
    """Planners and normalised SLAs, duplicates dropped, order kept; errors name ``planners``/``slas``."""
    planners = list(dict.fromkeys(planners))
    if not planners:
        raise SubmissionError("name at least one planner", "planners")
    for planner in planners:
        submissions.check_planner(planner, "planners")
    slas = list(dict.fromkeys(submissions.check_sla(sla, "slas") for sla in slas))
    if not slas:
        raise SubmissionError("name at least one SLA", "slas")
    check_count(len(planners), len(slas))
    return planners, slas


def check_count(planners: int, slas: int) -> None:
    """One preview plans at most MAX_COMBINATIONS plans, wherever it is asked for (REST, the web page)."""
    if planners * slas > MAX_COMBINATIONS:
        raise SubmissionError(f"{planners} planners × {slas} SLAs is over the limit of {MAX_COMBINATIONS} plans "
                              "one preview may make", "slas")


def preview_plans(*, graph, planners: list[str], slas: list[str], owner=None) -> dict[str, Any]:
    """Plan a valid ``graph`` with every planner × SLA pair (already checked by ``check_choices``) from
    ``owner``'s history."""
    shash = graph_mod.structure_hash(graph)
    plans = []
    for planner in planners:
        for sla in slas:
            plan = planning_service.make_plan(graph, planner=planner, sla=sla, structure_hash=shash, owner=owner)
            plans.append({
                "planner": planner,
                "sla": sla,
                "predicted_makespan_s": plan.predicted_makespan_s,
                "predicted_makespan_per_task_s": plan.predicted_makespan_per_task_s,
                "predicted_gb_seconds": plan.predicted_gb_seconds,
                "fallback": plan.fallback,
                "note": plan.note,
                "planning_time_s": plan.planning_time_s,
                "memory_mb": sorted({tp.memory_mb for tp in plan.tasks.values()}),
                "logical_workers": len(plan.workers()),
                "flexible_tasks": sum(1 for tp in plan.tasks.values() if tp.worker is None),
                "critical_path": list(plan.critical_path),
            })
    return {"structure_hash": shash, "task_count": len(graph), "plans": plans}


def preview_library(*, workflow: str, params: dict | None, planners, slas, owner=None) -> dict[str, Any]:
    planners, slas = check_choices(planners, slas)
    graph, values = submissions.library_graph(workflow, params)
    return {"workflow": workflow, "params": values,
            **preview_plans(graph=graph, planners=planners, slas=slas, owner=owner)}


def preview_spec(*, spec, name: str | None, planners, slas, owner=None) -> dict[str, Any]:
    planners, slas = check_choices(planners, slas)
    chosen = submissions.spec_name(name, spec)
    graph = run_services.pin_code(submissions.spec_graph(spec), owner, network=True)
    try:
        graph_mod.validate(graph)
        # The same function checks as a submission: a preview must not import arbitrary modules either.
        functions.check_graph(graph, functions.registered_modules())
        functions.check_bounds(graph)
    except graph_mod.GraphError as exc:
        raise SubmissionError(str(exc), "dag") from None
    return {"workflow": chosen, "params": {}, **preview_plans(graph=graph, planners=planners, slas=slas, owner=owner)}
