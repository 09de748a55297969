"""Reads across runs of a workflow: the analysis page, the dry-run planner comparison, experiments."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Q, Sum

from orchestrator import planning
from orchestrator.core import sla as sla_mod, spec as spec_mod
from orchestrator.core.states import RunStatus
from orchestrator.models import TaskRun, WorkerStartup, Workflow
from orchestrator.services import previews
from orchestrator.services.selectors import by_run, visible_runs
from reports import analysis
from webui.selectors.runs import run_row

PREVIEW_SLAS = ("average", "p50", "p90", "p95", "p99")


def visible_workflow(user, workflow_id: int) -> Workflow | None:
    """The workflow, if the user may see it (staff, or someone with a run of it)."""
    wf = Workflow.objects.filter(pk=workflow_id).first()
    if wf is None or user.is_staff or visible_runs(user).filter(workflow=wf).exists():
        return wf
    return None


def label(planner: str, sla: str) -> str:
    return f"{planner} · {sla}"


def _per_run_sums(run_ids: list[int]) -> tuple[dict, dict]:
    tasks = by_run(TaskRun.objects.filter(run_id__in=run_ids), **{f: Sum(f) for f in analysis.BREAKDOWN_COLUMNS})
    starts = by_run(
        WorkerStartup.objects.filter(run_id__in=run_ids),
        startup_s=Sum("startup_s"),
        n=Count("id"),
        prewarmed=Count("id", filter=Q(prewarmed=True)),
    )
    return tasks, starts


def workflow_analysis(user, workflow: Workflow) -> dict:
    """Per planner and SLA across the user's runs of this workflow (finished runs for statistics)."""
    runs = list(visible_runs(user).filter(workflow=workflow).order_by("submitted_at", "id"))
    rows = [run_row(r) | {"optimizations": r.optimizations or {}, "started_at": r.started_at} for r in runs]
    done = [r for r in rows if r["status"] == RunStatus.SUCCEEDED and r["makespan_s"] is not None]
    task_sums, startup_sums = _per_run_sums([r["id"] for r in done])

    makespans, promises, gbs = defaultdict(list), defaultdict(list), defaultdict(list)
    errors: dict[str, list[tuple[int, float]]] = defaultdict(list)
    breakdown: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(analysis.BREAKDOWN_PARTS, 0.0))
    n_per_planner: dict[str, int] = defaultdict(int)
    prewarm = defaultdict(lambda: {"prewarmed": 0, "startups": 0})
    opt_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in sorted(done, key=lambda r: analysis.sla_order(r["sla"])):
        key = label(r["planner"], r["sla"])
        makespans[key].append(r["makespan_s"])
        if r["predicted_makespan_s"] is not None:
            promises[key].append(r["predicted_makespan_s"])
        if r["gb_seconds"] is not None:
            gbs[key].append(r["gb_seconds"])
    for r in done:  # chronological: prediction error evolution
        err = analysis.relative_error(r["makespan_s"], r["predicted_makespan_s"])
        key = label(r["planner"], r["sla"])
        if err is not None:
            errors[key].append((len(errors[key]) + 1, err))
        p = r["planner"]
        n_per_planner[p] += 1
        parts = analysis.time_breakdown([task_sums.get(r["id"], {})], [startup_sums.get(r["id"], {})])
        for k, v in parts.items():
            breakdown[p][k] += v
        s = startup_sums.get(r["id"], {})
        prewarm[p]["prewarmed"] += s.get("prewarmed", 0)
        prewarm[p]["startups"] += s.get("n", 0)
        for name, value in (r["optimizations"].get("counts") or {}).items():
            opt_counts[p][name] += value if isinstance(value, int) else 1
    mean_breakdown = {p: {k: v / n_per_planner[p] for k, v in parts.items()} for p, parts in breakdown.items()}
    return {
        "workflow": workflow,
        "runs": rows[::-1],
        "done": len(done),
        "succeeded": done,
        "makespans": dict(makespans),
        "promises": dict(promises),
        "gb_seconds": dict(gbs),
        "sla_success": analysis.sla_success(done),
        "errors": dict(errors),
        "breakdown": mean_breakdown,
        "prewarm": {
            p: v | {"rate": v["prewarmed"] / v["startups"] if v["startups"] else None} for p, v in prewarm.items()
        },
        "optimizations": {p: dict(c) for p, c in opt_counts.items()},
        "summary": [
            {
                "label": key,
                "runs": len(v),
                "median": analysis.median(v),
                "median_promise": analysis.median(promises.get(key, [])),
                "median_gb_seconds": analysis.median(gbs.get(key, [])),
            }
            for key, v in makespans.items()
        ],
    }


def parse_slas(values: list[str]) -> tuple[list[str], list[str]]:
    """Canonical SLAs from user input (deduplicated, ordered) and the errors for bad ones."""
    good, errors = [], []
    for raw in values:
        for part in raw.replace(",", " ").split():
            try:
                text = str(sla_mod.parse(part))
            except sla_mod.SLAError as exc:
                errors.append(str(exc))
                continue
            if text not in good:
                good.append(text)
    return sorted(good, key=analysis.sla_order), errors


def preview_plans(user, workflow: Workflow, slas: list[str]) -> list[dict]:
    """Every registered planner at every SLA, planned dry (``services.previews``: nothing stored, nothing
    dispatched), as rows for the comparison page.

    A planner that predicts nothing (WUKONG, or a fallback without history)
    gets a point from history instead: the median observed makespan and cost
    of the user's succeeded runs with that planner (same SLA when there are such runs).
    """
    graph = spec_mod.from_spec(workflow.spec)
    history = [
        r
        for r in visible_runs(user)
        .filter(workflow=workflow, status=RunStatus.SUCCEEDED)
        .values("planner", "sla", "makespan_s", "gb_seconds")
    ]
    planned = previews.preview_plans(
        graph=graph,
        planners=planning.names(),
        slas=slas,
        owner=user,
        structure_hash=workflow.structure_hash,
        keep_errors=True,
    )["plans"]
    out = []
    for p in planned:
        planner, sla = p["planner"], p["sla"]
        row = {
            "planner": planner,
            "sla": sla,
            "error": p.get("error", ""),
            "makespan": None,
            "cost": None,
            "source": "",
        }
        if row["error"]:  # one planner failing must not hide the others: show its error
            out.append(row)
            continue
        row.update(
            {
                "fallback": p["fallback"],
                "note": p["note"],
                "planning_time_s": p["planning_time_s"],
                "workers": p["logical_workers"] or None,
                "configs": p["memory_mb"],
                "flexible": p["flexible_tasks"],
                "predicted_makespan_s": p["predicted_makespan_s"],
                "predicted_gb_seconds": p["predicted_gb_seconds"],
            }
        )
        if p["predicted_makespan_s"] is not None and p["predicted_gb_seconds"] is not None:
            row.update(makespan=p["predicted_makespan_s"], cost=p["predicted_gb_seconds"], source="predicted")
        else:
            same = [h for h in history if h["planner"] == planner and h["sla"] == sla]
            where = "" if same else " at any SLA"
            same = same or [h for h in history if h["planner"] == planner]
            ms = analysis.median(h["makespan_s"] for h in same)
            gb = analysis.median(h["gb_seconds"] for h in same)
            if ms is not None and gb is not None:
                row.update(makespan=ms, cost=gb, source=f"history: median of {len(same)} run(s){where}")
        out.append(row)
    placed = [r for r in out if r["makespan"] is not None]
    for r, flag in zip(placed, analysis.pareto_front([(r["cost"], r["makespan"]) for r in placed])):
        r["pareto"] = flag
    return out


def experiment_results(user) -> dict:
    """SLA success by planner × SLA over the user's succeeded runs, overall and per workflow."""
    runs = list(
        visible_runs(user)
        .filter(status=RunStatus.SUCCEEDED)
        .values("workflow__name", "planner", "sla", "makespan_s", "predicted_makespan_s")
    )
    by_workflow: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        by_workflow[r["workflow__name"]].append(r)
    overall = analysis.sla_success(runs)
    return {
        "runs": len(runs),
        "judged": sum(g["judged"] for g in overall),
        "overall": overall,
        "per_workflow": {name: analysis.sla_success(rs) for name, rs in sorted(by_workflow.items())},
    }
