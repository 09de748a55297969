"""Text reports for commands: a plan as a table, SLA calibration of stored runs."""

from __future__ import annotations

import statistics

from orchestrator.core import startup as startup_kinds
from orchestrator.core.graph import toposort
from orchestrator.planning import calibration as calibration_mod
from orchestrator.planning.plan import Plan


def _num(v, fmt="{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def _basis(plan: Plan) -> str:
    factor = (plan.calibration or {}).get("factor")
    if factor is not None:
        return f"typical × {factor:.2f}, calibrated by {plan.calibration.get('runs')} past runs"
    return "Monte Carlo at the SLA"


def plan_table(plan: Plan, graph) -> list[str]:
    lines = [
        f"planner {plan.planner}, SLA {plan.sla}" + (" (FALLBACK: no plan from history)" if plan.fallback else ""),
        f"note: {plan.note}",
        f"promise ({_basis(plan)}): {_num(plan.predicted_makespan_s)} s; "
        f"per-task-percentile estimate: {_num(plan.predicted_makespan_per_task_s)} s; "
        f"predicted cost: {_num(plan.predicted_gb_seconds)} GB-s; planning took {_num(plan.planning_time_s)} s",
    ]
    critical = set(plan.critical_path)
    order = {nid: k for k, nid in enumerate(toposort(graph))}
    rows = sorted(
        plan.tasks.values(), key=lambda tp: (tp.start_s if tp.start_s is not None else 0.0, order[tp.node_id])
    )
    width = max([len("task")] + [len(tp.node_id) for tp in rows])
    lines.append(f"{'task':<{width}}  {'MB':>5}  {'worker':<8} {'start-up':<14} {'start':>8} {'end':>8}  cp")
    for tp in rows:
        startup = tp.startup if startup_kinds.begins_branch(tp.startup) else ""
        if startup and tp.startup_s is not None:
            startup += f" {tp.startup_s:.3f}"
        # a flexible task: the executor the timing model put it on, when the plan promises (wukong-opt)
        where = tp.worker or (f"flex:{tp.sim_worker}" if tp.sim_worker else "flex")
        lines.append(
            f"{tp.node_id:<{width}}  {tp.memory_mb:>5}  {where:<8} {startup:<14} "
            f"{_num(tp.start_s):>8} {_num(tp.end_s):>8}  {'*' if tp.node_id in critical else ''}"
        )
    workers = plan.workers()
    lines.append(
        f"{len(plan.tasks)} tasks, {len(workers) or 'flexible'} logical workers, "
        f"critical path of {len(plan.critical_path)} tasks"
    )
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
        # How much time the promise reserves beyond what the runs took (negative: broken).
        "median_overshoot": statistics.median(r["predicted_makespan_s"] / r["makespan_s"] - 1 for r in done),
    }
    # The other estimates a plan records, judged the same way: the per-task-percentile estimate,
    # Monte Carlo at the SLA before calibration, and the predicted median.
    for key, label in (
        ("predicted_makespan_per_task_s", "per_task"),
        ("monte_carlo_s", "monte_carlo"),
        ("predicted_median_s", "median"),
    ):
        rows = [r for r in done if r.get(key) is not None]
        if rows:
            out[f"{label}_share_within"] = sum(r["makespan_s"] <= r[key] for r in rows) / len(rows)
            out[f"{label}_median_abs_error"] = statistics.median(
                abs(r[key] - r["makespan_s"]) / r["makespan_s"] for r in rows
            )
    # Residuals (observed ÷ typical): each run against its own plan's typical makespan, and the past
    # runs as the newest plan replayed them with its predictor (what its calibration rested on).
    out["residuals"] = calibration_mod.summary(
        [r["makespan_s"] / r["predicted_median_s"] for r in done if r.get("predicted_median_s")]
    )
    out["replayed_residuals"] = calibration_mod.summary(done[-1].get("replayed_residuals") or ())
    out["cores"] = done[-1].get("cores")
    gbs = [r for r in done if r.get("gb_seconds") and r.get("predicted_gb_seconds")]
    if gbs:
        out["median_gb_seconds"] = statistics.median(r["gb_seconds"] for r in gbs)
        out["median_gb_seconds_abs_error"] = statistics.median(
            abs(r["predicted_gb_seconds"] - r["gb_seconds"]) / r["gb_seconds"] for r in gbs
        )
    return out


def stored_runs(
    name: str,
    *,
    planners=(),
    slas=(),
    skip: int = 0,
    last: int | None = None,
    since_run: int | None = None,
    first: int | None = None,
) -> dict[tuple[str, str], list[dict]]:
    """Succeeded runs of workflow ``name`` with a non-fallback plan, oldest first, per (planner, SLA):
    after dropping ``skip``, the ``first`` oldest or the ``last`` newest."""
    from orchestrator.models import WorkflowRun

    qs = WorkflowRun.objects.filter(workflow__name=name, status="succeeded", plan__fallback=False)
    if planners:
        qs = qs.filter(planner__in=planners)
    if slas:
        qs = qs.filter(sla__in=slas)
    if since_run is not None:
        qs = qs.filter(pk__gte=since_run)
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in qs.order_by("id").values(
        "id",
        "planner",
        "sla",
        "makespan_s",
        "predicted_makespan_s",
        "gb_seconds",
        "predicted_gb_seconds",
        "plan__predicted_makespan_per_task_s",
        "plan__monte_carlo_s",
        "plan__predicted_median_s",
        "plan__data__calibration__residuals",
        "plan__data__capacity__cores",
    ):
        groups.setdefault((row["planner"], row["sla"]), []).append(
            {
                "run_id": row["id"],
                "makespan_s": row["makespan_s"],
                "predicted_makespan_s": row["predicted_makespan_s"],
                "predicted_makespan_per_task_s": row["plan__predicted_makespan_per_task_s"],
                "monte_carlo_s": row["plan__monte_carlo_s"],
                "predicted_median_s": row["plan__predicted_median_s"],
                "gb_seconds": row["gb_seconds"],
                "predicted_gb_seconds": row["predicted_gb_seconds"],
                "replayed_residuals": row["plan__data__calibration__residuals"] or [],
                "cores": row["plan__data__capacity__cores"],
            }
        )
    out = {}
    for key, runs in groups.items():
        runs = runs[skip:]
        if first is not None:
            runs = runs[:first] if first > 0 else []
        if last is not None:
            runs = runs[-last:] if last > 0 else []
        if runs:
            out[key] = runs
    return out


def calibration_line(s: dict) -> str:
    if not s.get("runs"):
        return f"{s['workflow']} {s['planner']}/{s['sla']}: no runs"
    line = (
        f"{s['workflow']} {s['planner']}/{s['sla']} runs {s['run_ids'][0]}..{s['run_ids'][1]} (n={s['runs']}): "
        f"within promise {s['within_promise']}/{s['runs']} = {s['share_within']:.0%}, "
        f"median abs error {s['median_abs_error']:.1%} (median makespan {s['median_makespan_s']:.3f} s, "
        f"median promise {s['median_promise_s']:.3f} s, overshoot {s['median_overshoot']:+.1%})"
    )
    for label, title in (
        ("per_task", "per-task-percentile estimate"),
        ("monte_carlo", "Monte Carlo alone"),
        ("median", "predicted median"),
    ):
        if f"{label}_share_within" in s:
            line += f"; {title}: within {s[f'{label}_share_within']:.0%}, error {s[f'{label}_median_abs_error']:.1%}"
    for key, title in (
        ("residuals", "residual observed ÷ typical"),
        ("replayed_residuals", "past runs replayed by the newest plan"),
    ):
        res = s.get(key) or {}
        if res.get("n"):
            line += f"; {title}: median {res['median']:.3f} (p10–p90 {res['p10']:.3f}–{res['p90']:.3f}, n={res['n']})"
    if s.get("cores") is not None:
        line += f"; simulated on {s['cores']:g} cores"
    if "median_gb_seconds" in s:
        line += f"; GB-s median {s['median_gb_seconds']:.3f}, prediction error {s['median_gb_seconds_abs_error']:.1%}"
    return line
