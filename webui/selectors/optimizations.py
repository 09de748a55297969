"""Reads for the workflow page's optimization dashboards: each optimization's effect across runs.

Which optimizations a run used comes from its plan's annotations (the ``-opt``
planners' rules, or optimizations forced at submission); what they did comes
from ``WorkflowRun.optimizations`` and ``TaskRun.optimizations``.
"""

from __future__ import annotations

from django.db.models import Q, Sum

from orchestrator.models import Plan, TaskRun, WorkerStartup
from reports import optimization_analysis as oa


def _annotations(plan_data: dict | None) -> dict[str, dict]:
    return {
        nid: tp.get("annotations")
        for nid, tp in ((plan_data or {}).get("tasks") or {}).items()
        if tp.get("annotations")
    }


def _used(plan_data: dict | None) -> set[str]:
    return {name for a in _annotations(plan_data).values() for name in a}


def _run_metrics(done: list[dict], used: dict[int, set[str]]) -> list[dict]:
    """Per run: its variant (planner and forced optimizations) and what on-vs-off compares."""
    ids = [r["id"] for r in done]
    sums = {
        r["run_id"]: r
        for r in TaskRun.objects.filter(run_id__in=ids)
        .values("run_id")
        .annotate(input_wait_s=Sum("input_wait_s"), bytes_written=Sum("output_bytes", filter=Q(uploaded=True)))
    }
    return [
        {
            "id": r["id"],
            "planner": r["planner"],
            "variant": oa.variant(r["planner"], used.get(r["id"], ())),
            "makespan_s": r["makespan_s"],
            "gb_seconds": r["gb_seconds"],
            "input_wait_s": sums.get(r["id"], {}).get("input_wait_s"),
            "bytes_written": sums.get(r["id"], {}).get("bytes_written") or 0,
            "optimizations": r["optimizations"],
        }
        for r in done
    ]


def _preload_task_rows(ids: list[int], used: dict[int, set[str]]) -> list[dict]:
    """The tasks PreLoad served in some run, in every run (not all tasks: runs × tasks can be many rows)."""
    served = set(
        TaskRun.objects.filter(run_id__in=ids, optimizations__has_key="preload")
        .values_list("node_id", flat=True)
        .distinct()
    )
    return [
        {
            "node_id": nid,
            "start_s": start,
            "input_wait_s": wait,
            "preloaded": bool((o or {}).get("preload")),
            "run_preload": "preload" in used.get(rid, ()),
        }
        for rid, nid, start, wait, o in TaskRun.objects.filter(run_id__in=ids, node_id__in=served).values_list(
            "run_id", "node_id", "start_s", "input_wait_s", "optimizations"
        )
    ]


def _startups_and_pings(done: list[dict]) -> tuple[list[dict], list[dict]]:
    """Every start-up with its run's planner, and every pre-warm ping placed against its target's start."""
    by_id = {r["id"]: r for r in done}
    startups: dict[int, list[dict]] = {}
    flat = []
    for rid, entries, started, cold, prewarmed in WorkerStartup.objects.filter(run_id__in=list(by_id)).values_list(
        "run_id", "entry_nodes", "started_at", "cold", "prewarmed"
    ):
        t0 = by_id[rid]["started_at"]
        startups.setdefault(rid, []).append(
            {"entry_nodes": entries or [], "started_s": (started - t0).total_seconds() if t0 else None}
        )
        flat.append({"planner": by_id[rid]["planner"], "cold": cold, "prewarmed": prewarmed})
    pings = [
        p | {"run_id": r["id"], "planner": r["planner"]}
        for r in done
        for p in oa.prewarm_timeline(
            (r["optimizations"].get("prewarm") or {}).get("pings") or {}, startups.get(r["id"], [])
        )
    ]
    return flat, pings


def workflow_optimizations(done: list[dict]) -> dict:
    """Across the succeeded runs ``done`` (``run_row`` dicts with ``optimizations`` and ``started_at``)."""
    ids = [r["id"] for r in done]
    used = {rid: _used(data) for rid, data in Plan.objects.filter(run_id__in=ids).values_list("run_id", "data")}
    runs = _run_metrics(done, used)
    startups, pings = _startups_and_pings(done)
    counts = oa.median_counts(runs)
    return {
        "on_off": oa.on_off(runs),
        "median_counts": counts,
        "count_labels": list(next(iter(counts.values()), {})),
        "preload_starts": oa.preload_starts(_preload_task_rows(ids, used)),
        "pings": pings,
        "prewarm": oa.prewarm_effectiveness(pings),
        "startups": oa.startups_by_planner(startups),
    }
