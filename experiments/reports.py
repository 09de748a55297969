"""Text reports for commands: a plan as a table, SLA calibration of stored runs."""
from __future__ import annotations

import statistics

from orchestrator.graph import toposort
from orchestrator.planning.plan import Plan


def _num(v, fmt="{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def plan_table(plan: Plan, graph) -> list[str]:
    lines = [
        f"planner {plan.planner}, SLA {plan.sla}" + (" (FALLBACK: no plan from history)" if plan.fallback else ""),
        f"note: {plan.note}",
        f"promise (Monte Carlo at the SLA): {_num(plan.predicted_makespan_s)} s; "
        f"per-task-percentile estimate: {_num(plan.predicted_makespan_per_task_s)} s; "
        f"predicted cost: {_num(plan.predicted_gb_seconds)} GB-s; planning took {_num(plan.planning_time_s)} s",
    ]
    critical = set(plan.critical_path)
    order = {nid: k for k, nid in enumerate(toposort(graph))}
    rows = sorted(plan.tasks.values(), key=lambda tp: (tp.start_s if tp.start_s is not None else 0.0,
                                                      order[tp.node_id]))
    width = max([len("task")] + [len(tp.node_id) for tp in rows])
    lines.append(f"{'task':<{width}}  {'MB':>5}  {'worker':<7} {'start-up':<14} {'start':>8} {'end':>8}  cp")
    for tp in rows:
        startup = tp.startup if tp.startup in ("cold", "warm") else ""
        if startup and tp.startup_s is not None:
            startup += f" {tp.startup_s:.3f}"
        lines.append(f"{tp.node_id:<{width}}  {tp.memory_mb:>5}  {(tp.worker or 'flex'):<7} {startup:<14} "
                     f"{_num(tp.start_s):>8} {_num(tp.end_s):>8}  {'*' if tp.node_id in critical else ''}")
    workers = plan.workers()
    lines.append(f"{len(plan.tasks)} tasks, {len(workers) or 'flexible'} logical workers, "
                 f"critical path of {len(plan.critical_path)} tasks")
    return lines


def calibration(runs: list[dict]) -> dict:
    """Share of runs within their promise and the median relative error of the promise.

    ``runs``: dicts with makespan_s, predicted_makespan_s and (optionally) predicted_makespan_per_task_s.
    """
    done = [r for r in runs if r.get("makespan_s") and r.get("predicted_makespan_s") is not None]
    if not done:
        return {"runs": 0}
    within = sum(r["makespan_s"] <= r["predicted_makespan_s"] for r in done)
    err = [abs(r["predicted_makespan_s"] - r["makespan_s"]) / r["makespan_s"] for r in done]
    out = {
        "runs": len(done),
        "within_promise": within,
        "share_within": within / len(done),
        "median_abs_error": statistics.median(err),
        "median_makespan_s": statistics.median(r["makespan_s"] for r in done),
        "median_promise_s": statistics.median(r["predicted_makespan_s"] for r in done),
    }
    per_task = [r for r in done if r.get("predicted_makespan_per_task_s") is not None]
    if per_task:
        out["per_task_share_within"] = (sum(r["makespan_s"] <= r["predicted_makespan_per_task_s"] for r in per_task)
                                        / len(per_task))
        out["per_task_median_abs_error"] = statistics.median(
            abs(r["predicted_makespan_per_task_s"] - r["makespan_s"]) / r["makespan_s"] for r in per_task)
    gbs = [r for r in done if r.get("gb_seconds") and r.get("predicted_gb_seconds")]
    if gbs:
        out["median_gb_seconds"] = statistics.median(r["gb_seconds"] for r in gbs)
        out["median_gb_seconds_abs_error"] = statistics.median(
            abs(r["predicted_gb_seconds"] - r["gb_seconds"]) / r["gb_seconds"] for r in gbs)
    return out
