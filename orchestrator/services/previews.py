"""Plan previews: what each planner would promise for a workflow at each SLA, without running it.

Nothing is stored and nothing is dispatched; the planners see the same
history a submission by the same user would (``services.planning.scope``).
Every preview plans through ``plan`` here — REST's ``POST /api/workflows/preview/``
(``preview_library``, ``preview_spec``), the web UI's planner comparison and
``slaflow plan`` — and a graph from a request passes the submission checks
first (``services.submissions``).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from orchestrator.core import graph as graph_mod
from orchestrator.models import Plan
from orchestrator.services import planning as planning_service, submissions
from orchestrator.services.errors import SubmissionError
from workers import functions

log = logging.getLogger("slaflow.previews")

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
        raise SubmissionError(
            f"{planners} planners × {slas} SLAs is over the limit of {MAX_COMBINATIONS} plans one preview may make",
            "slas",
        )


def plan(graph, *, planner: str, sla: str, owner=None, structure_hash: str | None = None) -> Plan:
    """The plan a run of ``graph`` by ``owner`` would get now, without storing or running anything."""
    graph_mod.validate(graph)
    shash = structure_hash or graph_mod.structure_hash(graph)
    return planning_service.make_plan(graph, planner=planner, sla=sla, structure_hash=shash, owner=owner)


def preview_plans(
    *,
    graph,
    planners: list[str],
    slas: list[str],
    owner=None,
    structure_hash: str | None = None,
    keep_errors: bool = False,
) -> dict[str, Any]:
    """Plan a valid ``graph`` with every planner × SLA pair (already checked by ``check_choices``) from
    ``owner``'s history. ``keep_errors``: a planner that fails gets a row with its ``error`` instead of
    failing the preview (the web page shows the others)."""
    graph_mod.validate(graph)
    shash = structure_hash or graph_mod.structure_hash(graph)
    plans = []
    for planner in planners:
        for sla in slas:
            try:
                made = planning_service.make_plan(graph, planner=planner, sla=sla, structure_hash=shash, owner=owner)
            except Exception as exc:
                if not keep_errors:
                    raise
                log.exception("dry-run planning with %s/%s failed", planner, sla)
                plans.append({"planner": planner, "sla": sla, "error": f"{type(exc).__name__}: {exc}"})
                continue
            plans.append(summary(made, planner=planner, sla=sla))
    return {"structure_hash": shash, "task_count": len(graph), "plans": plans}


def summary(made: Plan, *, planner: str, sla: str) -> dict[str, Any]:
    """What a preview shows of one plan."""
    return {
        "planner": planner,
        "sla": sla,
        "predicted_makespan_s": made.predicted_makespan_s,
        "predicted_makespan_per_task_s": made.predicted_makespan_per_task_s,
        "predicted_gb_seconds": made.predicted_gb_seconds,
        "fallback": made.fallback,
        "note": made.note,
        "planning_time_s": made.planning_time_s,
        "memory_mb": sorted({tp.memory_mb for tp in made.tasks.values()}),
        "logical_workers": len(made.workers()),
        "flexible_tasks": sum(1 for tp in made.tasks.values() if tp.worker is None),
        "critical_path": list(made.critical_path),
    }


def preview_library(*, workflow: str, params: dict | None, planners, slas, owner=None) -> dict[str, Any]:
    planners, slas = check_choices(planners, slas)
    graph, values = submissions.library_graph(workflow, params)
    return {
        "workflow": workflow,
        "params": values,
        **preview_plans(graph=graph, planners=planners, slas=slas, owner=owner),
    }


def preview_spec(*, spec, name: str | None, planners, slas, owner=None) -> dict[str, Any]:
    """A JSON spec checked as its submission would be (a preview must not import arbitrary modules either)."""
    planners, slas = check_choices(planners, slas)
    graph = submissions.spec_graph(spec)  # the document first: the spec's own name is part of it
    chosen = submissions.spec_name(name, spec)
    submissions.check_values(graph)
    graph = submissions.pin_code(graph, owner, network=True)
    submissions.check_graph(graph, functions.registered_modules())
    return {"workflow": chosen, "params": {}, **preview_plans(graph=graph, planners=planners, slas=slas, owner=owner)}
