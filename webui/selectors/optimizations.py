"""Reads for the optimization dashboards: per run (what fired, where) and across a workflow's runs (effect).

Which optimizations a run used comes from its plan's annotations (the ``-opt``
planners' rules, or optimizations forced at submission); what they did comes
from ``WorkflowRun.optimizations`` and ``TaskRun.optimizations``.
"""
from __future__ import annotations

from django.db.models import Q, Sum

from orchestrator.models import Plan, TaskRun, WorkerStartup
from webui import optimization_analysis as oa


def _annotations(plan_data: dict | None) -> dict[str, dict]:
    return {nid: tp.get("annotations") for nid, tp in ((plan_data or {}).get("tasks") or {}).items()
            if tp.get("annotations")}


def _used(plan_data: dict | None) -> set[str]:
    return {name for a in _annotations(plan_data).values() for name in a}


def run_optimizations(run, detail: dict) -> dict:
    """Everything the run page's optimization panels draw."""
    plan_data = Plan.objects.filter(run=run).values_list("data", flat=True).first()
    tasks, opts = detail["tasks"], detail["run"]["optimizations"]
    return {
        "used": sorted(_used(plan_data)),
        "preload": oa.preload_rows(tasks, _annotations(plan_data)),
        "prewarm": oa.prewarm_timeline((opts.get("prewarm") or {}).get("pings") or {}, detail["startups"], tasks),
        "clustering": opts.get("clustering"), "clustered": oa.clustering_rows(tasks),
        "streaming": opts.get("streaming"), "streamed": oa.streaming_rows(tasks),
        "task_parts": oa.task_time_parts(tasks),
    }


def workflow_optimizations(done: list[dict]) -> dict:
    """Across the succeeded runs ``done`` (``run_row`` dicts with their ``optimizations``) of one workflow."""
    ids = [r["id"] for r in done]
    used = {rid: _used(data) for rid, data in Plan.objects.filter(run_id__in=ids).values_list("run_id", "data")}
    sums = {r["run_id"]: r for r in TaskRun.objects.filter(run_id__in=ids).values("run_id").annotate(
        input_wait_s=Sum("input_wait_s"), bytes_written=Sum("output_bytes", filter=Q(uploaded=True)))}
    runs = []
    for r in done:
        s = sums.get(r["id"], {})
        runs.append({"id": r["id"], "planner": r["planner"], "variant": oa.variant(r["planner"], used.get(r["id"], ())),
                     "makespan_s": r["makespan_s"], "gb_seconds": r["gb_seconds"],
                     "input_wait_s": s.get("input_wait_s"), "bytes_written": s.get("bytes_written") or 0,
                     "optimizations": r["optimizations"]})
    variant_of = {r["id"]: r["variant"] for r in runs}

    task_rows = [{"node_id": nid, "start_s": start, "input_wait_s": wait, "preloaded": bool((o or {}).get("preload")),
                  "run_preload": "preload" in used.get(rid, ()), "variant": variant_of[rid]}
                 for rid, nid, start, wait, o in TaskRun.objects.filter(run_id__in=ids).values_list(
                     "run_id", "node_id", "start_s", "input_wait_s", "optimizations")]

    startups: dict[int, list[dict]] = {}
    started_at = {r["id"]: r["started_at"] for r in done}
    planner_of = {r["id"]: r["planner"] for r in done}
    flat = []
    for rid, entries, started, cold, prewarmed in WorkerStartup.objects.filter(run_id__in=ids).values_list(
            "run_id", "entry_nodes", "started_at", "cold", "prewarmed"):
        t0 = started_at.get(rid)
        startups.setdefault(rid, []).append({"entry_nodes": entries or [], "started_s": (
            (started - t0).total_seconds() if t0 else None)})
        flat.append({"planner": planner_of[rid], "cold": cold, "prewarmed": prewarmed})
    pings = []
    for r in done:
        for p in oa.prewarm_timeline(((r["optimizations"].get("prewarm") or {}).get("pings") or {}),
                                     startups.get(r["id"], [])):
            pings.append(p | {"run_id": r["id"], "planner": r["planner"]})
    counts = oa.median_counts(runs)
    return {
        "on_off": oa.on_off(runs), "median_counts": counts,
        "count_labels": list(next(iter(counts.values()), {})),
        "preload_starts": oa.preload_starts(task_rows), "pings": pings,
        "prewarm": oa.prewarm_effectiveness(pings), "startups": oa.startups_by_planner(flat),
        "variants": sorted({r["variant"] for r in runs}),
    }
