"""Reads about runs, shaped for commands, the API and the web UI."""

from __future__ import annotations

import functools

import numpy as np
from django.conf import settings
from django.db.models import Count, QuerySet

from orchestrator.models import TaskRun, WorkflowRun
from orchestrator.planning.predictor import percentile


def run_summary(run_id: int) -> dict:
    run = WorkflowRun.objects.select_related("workflow").get(pk=run_id)
    if run.result_preview is not None:
        result = run.result_preview
    elif run.result_type:
        result = {"type": run.result_type, "bytes": run.result_bytes}
    else:
        result = None
    return {
        "run_id": run.pk,
        "workflow": run.workflow.name,
        "planner": run.planner,
        "sla": run.sla,
        "status": run.status,
        "result": result,
        "makespan_s": run.makespan_s,
        "predicted_makespan_s": run.predicted_makespan_s,
        "within_sla": run.within_sla,
        "tasks": TaskRun.objects.filter(run=run).count(),
        "cold_starts": run.cold_starts,
        "warm_starts": run.warm_starts,
        "gb_seconds": run.gb_seconds,
        "predicted_gb_seconds": run.predicted_gb_seconds,
        "cpu_seconds": run.cpu_seconds,
        "resources_enforced": run.resources_enforced,
        "plan_note": run.plan_note,
        "optimizations": run.optimizations or {},
        "alerts": [a.get("kind") for a in run.alerts or []],
        "error": run.error or None,
    }


# --- per-user reads for the REST API (issue 4) -----------------------------------


def visible_runs(user):
    """Runs ``user`` may see: their own; staff see every run (including owner-less CLI runs)."""
    qs = WorkflowRun.objects.select_related("workflow", "owner")
    if user is None or not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(owner=user)


def visible_run(user, run_id: int) -> WorkflowRun:
    """One visible run; another user's run raises DoesNotExist exactly like a missing one."""
    return visible_runs(user).get(pk=run_id)


def filter_runs(
    qs, *, workflow: str | None = None, status: str | None = None, planner: str | None = None, sla: str | None = None
):
    if workflow:
        qs = qs.filter(workflow__name=workflow)
    if status:
        qs = qs.filter(status=status)
    if planner:
        qs = qs.filter(planner=planner)
    if sla:
        qs = qs.filter(sla=sla)
    return qs


DURATION_WINDOW = 100
DURATION_PERCENTILES = (50, 90, 95, 99)


def duration_percentiles(user, workflow_id: int, *, window: int = DURATION_WINDOW) -> list[dict]:
    """Per planner × SLA, over the latest ``window`` succeeded runs of the workflow ``user`` may see: how many,
    the makespan's p50/p90/p95/p99 (linear interpolation), the median promise and how many finished
    within their promise."""
    rows = (
        visible_runs(user)
        .filter(workflow_id=workflow_id, status="succeeded", makespan_s__isnull=False)
        .order_by("-id")
        .values_list("planner", "sla", "makespan_s", "predicted_makespan_s")
    )
    groups: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    for planner, sla, makespan, promise in rows:
        got = groups.setdefault((planner, sla), [])
        if len(got) < window:
            got.append((makespan, promise))
    out = []
    for (planner, sla), runs in sorted(groups.items()):
        spans = np.array([m for m, _ in runs], dtype=float)
        promised = np.array([p for _, p in runs if p], dtype=float)
        out.append(
            {
                "planner": planner,
                "sla": sla,
                "runs": len(spans),
                **{f"p{q}_s": round(percentile(spans, q), 4) for q in DURATION_PERCENTILES},
                "median_promise_s": round(percentile(promised, 50), 4) if len(promised) else None,
                "promised_runs": len(promised),
                "within_promise": sum(1 for m, p in runs if p and m <= p),
            }
        )
    return out


def by_run(rows: QuerySet, **aggregates) -> dict[int, dict]:
    """``aggregates`` over ``rows`` (of a model with a ``run``) per run: run id → its values and ``run_id``."""
    return {r["run_id"]: r for r in rows.values("run_id").annotate(**aggregates)}


def run_tasks(run: WorkflowRun):
    return TaskRun.objects.filter(run=run).order_by("start_s", "planned_start_s", "node_id")


def _count_by(rows: QuerySet, key: str) -> dict:
    """How many of ``rows`` there are per value of ``key``."""
    return {row[key]: row["n"] for row in rows.order_by().values(key).annotate(n=Count("id"))}


def workflow_catalog(user) -> list[dict]:
    """Library workflows (shape at default parameters) then submitted workflows with visible runs."""
    from orchestrator.models import Workflow
    from slaflow import workflows

    runs = visible_runs(user)
    library_counts = _count_by(runs.filter(workflow__source=Workflow.Source.LIBRARY), "workflow__name")
    entries = []
    for name, wf in workflows.all_workflows().items():
        shash, n_tasks, unavailable = _library_shape(name, tuple(settings.SLAFLOW_ALLOWED_EXECUTABLES))
        entries.append(
            {
                "id": None,
                "name": name,
                "source": Workflow.Source.LIBRARY,
                "description": wf.description,
                "structure_hash": shash,
                "task_count": n_tasks,
                "run_count": library_counts.get(name, 0),
                "parameters": dict(wf.params),
                "available": not unavailable,
                "unavailable_reason": unavailable,
            }
        )
    counts = _count_by(runs.exclude(workflow__source=Workflow.Source.LIBRARY), "workflow_id")
    submitted = Workflow.objects.exclude(source=Workflow.Source.LIBRARY)
    if not (user.is_authenticated and user.is_staff):
        submitted = submitted.filter(pk__in=list(counts))
    for wf in submitted.order_by("name", "-created_at"):
        entries.append(
            {
                "id": wf.pk,
                "name": wf.name,
                "source": wf.source,
                "description": "",
                "structure_hash": wf.structure_hash,
                "task_count": wf.task_count,
                "run_count": counts.get(wf.pk, 0),
                "parameters": {},
                "available": True,
                "unavailable_reason": "",
            }
        )
    return entries


@functools.lru_cache(maxsize=None)
def _library_shape(name: str, programs: tuple[str, ...]) -> tuple[str, int | None, str]:
    """(structure hash, task count, "") of a library workflow at its default parameters (code is static);
    ("", None, why) when it cannot run here: it needs a program ``programs`` (the allowed ones) lacks."""
    from orchestrator.core import graph as graph_mod
    from orchestrator.core.authoring import build_graph
    from orchestrator.executables import DisallowedExecutableError
    from slaflow import workflows

    wf = workflows.get(name)
    try:
        graph = build_graph(wf.build(**wf.params))
    except DisallowedExecutableError as exc:
        return "", None, f"unavailable here: {exc}"
    return graph_mod.structure_hash(graph), len(graph), ""


def visible_experiments(user):
    """Campaigns ``user`` may see: their own; staff see all (including owner-less CLI campaigns)."""
    from orchestrator.models import Experiment

    qs = Experiment.objects.select_related("owner")
    if user is None or not user.is_authenticated:
        return qs.none()
    return qs if user.is_staff else qs.filter(owner=user)
