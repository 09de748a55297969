"""Reads for the runs list, the run page and its live endpoint, shaped as plain dicts.

Users see their own runs, staff see all (``services.selectors.visible_runs``, as REST). While a run
is active, task states come from Redis (``store.dataplane.live_states``), since
TaskRun rows are written only when a branch ends.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

import redis
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet

from orchestrator.core import graph as graph_mod, mapping, sinks, spec as spec_mod
from orchestrator.core.states import RunStatus
from orchestrator.models import Plan, TaskRun, WorkerStartup, Workflow, WorkflowRun
from orchestrator.planning import calibration
from orchestrator.services.metrics import OBSERVED_FIELDS
from orchestrator.services.selectors import visible_runs  # the one rule of who sees a run, REST's too
from reports import analysis

log = logging.getLogger("slaflow.webui")

# The observed columns the page shows of a task are the ones a branch records (``services.metrics``) but
# the host-side details.
_NOT_SHOWN = ("status", "attempts", "cpus", "branch_id", "started_at", "finished_at", "cpu_s", "enforced", "traceback")
TASK_FIELDS = [
    "node_id",
    "function",
    "status",
    "attempts",
    "planned_memory_mb",
    "planned_worker",
    "planned_startup",
    "planned_startup_s",
    "planned_start_s",
    "planned_end_s",
    "planned_download_s",
    "planned_exec_s",
    "planned_upload_s",
    "planned_input_bytes",
    "planned_output_bytes",
    "planned_critical",
    *(f for f in OBSERVED_FIELDS if f not in _NOT_SHOWN),
]
RUN_FILTERS = ("workflow", "planner", "sla", "status")


def visible_workflows(user) -> QuerySet:
    qs = Workflow.objects.all()
    if not user.is_staff:
        qs = qs.filter(runs__owner=user)
    return qs.annotate(
        n_runs=Count("runs", filter=None if user.is_staff else Q(runs__owner=user), distinct=True)
    ).order_by("name", "-created_at")


def run_row(run: WorkflowRun) -> dict:
    return {
        "id": run.pk,
        "workflow": run.workflow.name,
        "workflow_id": run.workflow_id,
        "planner": run.planner,
        "sla": run.sla,
        "status": run.status,
        "submitted_at": run.submitted_at,
        "makespan_s": run.makespan_s,
        "predicted_makespan_s": run.predicted_makespan_s,
        "within_sla": run.within_sla,
        "gb_seconds": run.gb_seconds,
        "predicted_gb_seconds": run.predicted_gb_seconds,
        "cold_starts": run.cold_starts,
        "warm_starts": run.warm_starts,
        "owner": run.owner.get_username() if run.owner else "",
    }


RUNS_PER_PAGE = 100


def run_page(user, filters: dict, page: str | int | None, per_page: int | None = None) -> Page:
    """One page of the runs the user may see (newest first), filtered; its rows are ``run_row`` dicts.
    A page number out of range or not a number gives the nearest page, as Django's ``get_page`` does."""
    qs = visible_runs(user)
    if filters.get("workflow"):
        qs = qs.filter(workflow__name=filters["workflow"])
    for key in ("planner", "sla", "status"):
        if filters.get(key):
            qs = qs.filter(**{key: filters[key]})
    found = Paginator(qs, per_page or RUNS_PER_PAGE).get_page(page)
    found.object_list = [run_row(r) for r in found.object_list]
    return found


def filter_choices(user) -> dict[str, list[str]]:
    qs = visible_runs(user).order_by()
    return {
        "workflow": sorted(set(qs.values_list("workflow__name", flat=True))),
        "planner": sorted(set(qs.values_list("planner", flat=True))),
        "sla": sorted(set(qs.values_list("sla", flat=True)), key=analysis.sla_order),
        "status": [s for s in RunStatus.values if qs.filter(status=s).exists()],
    }


# --- one run ------------------------------------------------------------------------------------


def _rel(dt, t0) -> float | None:
    return None if dt is None or t0 is None else (dt - t0).total_seconds()


def startups_of(run: WorkflowRun) -> list[dict]:
    t0 = run.started_at
    out = []
    for s in WorkerStartup.objects.filter(run=run).order_by("requested_at"):
        out.append(
            {
                "worker_id": s.worker_id,
                "memory_mb": s.memory_mb,
                "cold": s.cold,
                "reason": s.reason,
                "requested_s": _rel(s.requested_at, t0),
                "started_s": _rel(s.started_at, t0),
                "ready_s": _rel(s.ready_at, t0),
                "ended_s": _rel(s.ended_at, t0),
                "startup_s": s.startup_s,
                "active_s": s.active_s,
                "prewarmed": s.prewarmed,
                "entry_nodes": list(s.entry_nodes or []),
                "tasks": s.tasks,
                "host": s.host,
                "pid": s.pid,
            }
        )
    return out


def live_states(run_id: int) -> dict[str, str]:
    """Node → state from Redis; empty when Redis cannot be reached (the page says so)."""
    from store import dataplane

    try:
        return dataplane.live_states(run_id)
    except redis.RedisError as exc:
        log.warning("live states of run %s unavailable: %s", run_id, exc)
        return {}


def node_states(run: WorkflowRun, task_status: dict[str, str]) -> dict[str, str]:
    if run.status in RunStatus.finished():
        return dict(task_status)
    live = live_states(run.pk)
    return {nid: live.get(nid, status) for nid, status in task_status.items()}


def _in_order(order: list[str], tasks: dict[str, dict]) -> list[dict]:
    """Tasks in graph order, a mapped node's element tasks (``p[0]``, ``p[1]``, …) just before it."""
    elements: dict[str, list[tuple[int, str]]] = {}
    for nid in tasks:
        base, index = mapping.split_id(nid)
        if index is not None:
            elements.setdefault(base, []).append((index, nid))
    out = []
    for nid in order:
        out.extend(tasks[e] for _, e in sorted(elements.get(nid, ())))
        if nid in tasks:
            out.append(tasks[nid])
    return out


def _sink_results(graph, preview) -> list[dict]:
    """A workflow with several sinks: each sink's value (from the result's preview), for the page."""
    end = graph.get(sinks.RESULT)
    if end is None or end.function not in sinks.FUNCTIONS or not isinstance(preview, (dict, list)):
        return []
    items = preview.items() if isinstance(preview, dict) else enumerate(preview)
    return [{"sink": str(k), "value": json.dumps(v)} for k, v in items]


def run_detail(run: WorkflowRun) -> dict:
    """Everything the run page draws, as plain data."""
    graph = spec_mod.from_spec(run.spec)
    order = graph_mod.toposort(graph)
    levels = graph_mod.depth_levels(graph)
    tasks = {t["node_id"]: t for t in TaskRun.objects.filter(run=run).values(*TASK_FIELDS)}
    ordered_tasks = _in_order(order, tasks)
    startups = startups_of(run)
    plan = Plan.objects.filter(run=run).first()
    plan_data = plan.data if plan else None
    states = node_states(run, {n: t["status"] for n, t in tasks.items()})
    for nid, t in tasks.items():
        t["status"] = states.get(nid, t["status"])  # live state while the run is active

    nodes = []
    for nid in order:
        t = tasks.get(nid, {})
        nodes.append(
            {
                "id": nid,
                "function": graph[nid].function,
                "level": levels[nid],
                "upstream": list(graph[nid].upstream),
                "memory_mb": t.get("memory_mb") or t.get("planned_memory_mb"),
                "worker": t.get("worker_id") or t.get("planned_worker") or None,
                "status": states.get(nid, "pending"),
                "duplicated": bool((t.get("optimizations") or {}).get("duplicated")),
                "clustered": (t.get("optimizations") or {}).get("clustered") or "",
            }
        )
    sink = graph_mod.sink(graph)
    observed_path = (
        analysis.observed_critical_path(
            {n: graph[n].upstream for n in graph},
            {n: t.get("end_s") for n, t in tasks.items()},
            sink,
        )
        if run.status == RunStatus.SUCCEEDED
        else []
    )
    planned_path = list(
        (plan_data or {}).get("critical_path") or [t["node_id"] for t in ordered_tasks if t["planned_critical"]]
    )
    startup_of = {}
    for s in startups:
        if s["entry_nodes"]:
            startup_of.setdefault(s["entry_nodes"][0], s["startup_s"])
    return {
        "run": run_row(run)
        | {
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "plan_note": run.plan_note,
            "error": run.error,
            "failed_node": run.failed_node,
            "params": run.params,
            "cpu_seconds": run.cpu_seconds,
            "resources_enforced": run.resources_enforced,
            "result_preview": run.result_preview,
            "result_type": run.result_type,
            "result_bytes": run.result_bytes,
            "optimizations": run.optimizations or {},
            "finished": run.status in RunStatus.finished(),
            "task_count": len(graph),
        },
        "sink_results": _sink_results(graph, run.result_preview),
        # Tasks that were retried, failed or stopped: every attempt's error, for the page's "Attempts".
        "attempts": [
            {
                "node_id": t["node_id"],
                "status": t["status"],
                "attempts": t["attempts"],
                "errors": list(t.get("attempt_errors") or []),
                "error": t["error"],
            }
            for t in ordered_tasks
            if t.get("attempt_errors") or t["status"] in ("failed", "cancelled")
        ],
        "plan": {
            "planner": plan.planner,
            "sla": plan.sla,
            "fallback": plan.fallback,
            "note": plan_data.get("note", ""),
            "planning_time_s": plan.planning_time_s,
            "predicted_makespan_s": plan.predicted_makespan_s,
            "typical_s": plan.predicted_median_s,
            "monte_carlo_s": plan.monte_carlo_s,
            "per_task_s": plan.predicted_makespan_per_task_s,
            "calibration": plan_data.get("calibration") or {},
            "capacity": plan_data.get("capacity") or {},
            "residuals": (plan_data.get("calibration") or {}).get("residual_summary")
            or calibration.summary((plan_data.get("calibration") or {}).get("residuals") or ()),
            "residual": (
                run.makespan_s / plan.predicted_median_s if run.makespan_s and plan.predicted_median_s else None
            ),
            "predicted_gb_seconds": plan.predicted_gb_seconds,
            "workers": len({tp.get("worker") for tp in plan_data["tasks"].values() if tp.get("worker")}),
            "annotations": dict(
                Counter(k for tp in plan_data["tasks"].values() for k in (tp.get("annotations") or {}))
            ),
        }
        if plan
        else None,
        # Per task, what the plan asked of each optimization (the optimization panels compare it with what happened).
        "task_annotations": {
            nid: tp["annotations"]
            for nid, tp in ((plan_data or {}).get("tasks") or {}).items()
            if tp.get("annotations")
        },
        "nodes": nodes,
        "tasks": ordered_tasks,
        "startups": startups,
        "planned_path": planned_path,
        "observed_path": observed_path,
        "startup_of": startup_of,
        "state_counts": dict(Counter(states.values())),
    }


def optimization_events(detail: dict) -> dict:
    """What optimizations and the runtime did: start-ups, pre-warms, per-task events, bytes kept local."""
    startups = detail["startups"]
    tasks = detail["tasks"]
    per_task = [
        {"node_id": t["node_id"], "worker_id": t["worker_id"], "events": t["optimizations"]}
        for t in tasks
        if t["optimizations"]
    ]
    return {
        "cold": sum(1 for s in startups if s["cold"]),
        "warm": sum(1 for s in startups if not s["cold"]),
        "prewarmed": sum(1 for s in startups if s["prewarmed"]),
        "reasons": dict(Counter(s["reason"] or "?" for s in startups)),
        "counts": detail["run"]["optimizations"].get("counts") or {},
        "preload": detail["run"]["optimizations"].get("preload"),
        "prewarm": detail["run"]["optimizations"].get("prewarm"),
        "taskdup": detail["run"]["optimizations"].get("taskdup"),
        "duplicated": [n["id"] for n in detail["nodes"] if n.get("duplicated")],
        "per_task": per_task,
        "kept_local_bytes": sum(t["output_bytes"] or 0 for t in tasks if t["uploaded"] is False),
        "kept_local_tasks": sum(1 for t in tasks if t["uploaded"] is False),
        "uploaded_bytes": sum(t["output_bytes"] or 0 for t in tasks if t["uploaded"]),
        "downloaded_bytes": sum((t["input_bytes"] or 0) for t in tasks if t["download_s"]),
    }


def live_status(run: WorkflowRun) -> dict:
    """The small JSON the run page polls: status, node states and a version that changes with new data."""
    task_status = dict(TaskRun.objects.filter(run=run).values_list("node_id", "status"))
    states = node_states(run, task_status)
    recorded = TaskRun.objects.filter(run=run, end_s__isnull=False).count()
    startups = WorkerStartup.objects.filter(run=run).count()
    return {
        "id": run.pk,
        "status": run.status,
        "finished": run.status in RunStatus.finished(),
        "states": states,
        "counts": dict(Counter(states.values())),
        "version": f"{run.status}:{recorded}:{startups}",
        "makespan_s": run.makespan_s,
        "predicted_makespan_s": run.predicted_makespan_s,
    }
