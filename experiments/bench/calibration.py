"""``bench calibration``: how honest a workflow's promises are from its first planned runs.

Runs a library workflow ``iterations`` times on the configured cluster and
database — which must hold no run of that workflow yet, so the figures start
from no history — then measures, over the stored runs:

* planned runs ``early`` (2–6: the first run has no history and is the
  flexible fallback): the median |typical − observed| / observed (the timing
  model's own error, before calibration takes over) and the share of runs
  within the p50 and the p90 promise (each plan records both, ``Plan.promises``);
* runs ``steady`` (8–12): the median p90 overshoot, promise ÷ observed − 1;
* residuals (observed ÷ typical) per run, and the host's load while it ran.

Pure figures over plain rows (``figures``) so a test can check them.
"""

from __future__ import annotations

import os
import statistics

EARLY = (2, 6)
STEADY = (8, 12)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _spread(values):
    values = [v for v in values if v is not None]
    return [min(values), max(values)] if values else None


def figures(rows: list[dict], early=EARLY, steady=STEADY) -> dict:
    """``rows``: runs oldest first with makespan_s, typical_s, promises {"p50", "p90"}; run k is rows[k-1]."""

    def window(lo, hi):
        return [r for k, r in enumerate(rows, 1) if lo <= k <= hi and r.get("makespan_s") and r.get("typical_s")]

    out: dict = {"runs": len(rows)}
    first = window(*early)
    errors = [abs(r["typical_s"] - r["makespan_s"]) / r["makespan_s"] for r in first]
    out["early_runs"] = f"{early[0]}-{early[1]}"
    out["early_typical_error_median"] = _median(errors)
    out["early_typical_error_spread"] = _spread(errors)
    for key in ("p50", "p90"):
        judged = [r for r in first if (r.get("promises") or {}).get(key)]
        out[f"early_within_{key}"] = (
            sum(r["makespan_s"] <= r["promises"][key] for r in judged) / len(judged) if judged else None
        )
    later = window(*steady)
    overshoot = [r["promises"]["p90"] / r["makespan_s"] - 1 for r in later if (r.get("promises") or {}).get("p90")]
    out["steady_runs"] = f"{steady[0]}-{steady[1]}"
    out["steady_p90_overshoot_median"] = _median(overshoot)
    out["steady_p90_overshoot_spread"] = _spread(overshoot)
    residuals = [r["makespan_s"] / r["typical_s"] for r in rows if r.get("makespan_s") and r.get("typical_s")]
    out["residual_median"] = _median(residuals)
    out["residual_spread"] = _spread(residuals)
    out["makespan_median"] = _median([r.get("makespan_s") for r in rows[1:]])
    out["load_median"] = _median([r.get("load") for r in rows])
    return out


def stored_rows(name: str) -> list[dict]:
    from orchestrator.models import WorkflowRun

    rows = []
    for run_id, made, typical, promises, fallback in (
        WorkflowRun.objects.filter(workflow__name=name)
        .order_by("id")
        .values_list("id", "makespan_s", "plan__predicted_median_s", "plan__data__promises", "plan__fallback")
    ):
        rows.append(
            {
                "run_id": run_id,
                "makespan_s": made,
                "typical_s": None if fallback else typical,
                "promises": promises or {},
            }
        )
    return rows


def bench(
    name: str, *, planner: str, sla: str, iterations: int, params: dict, timeout_s: float, progress=print
) -> dict:
    from experiments import runner
    from orchestrator.models import WorkflowRun

    if WorkflowRun.objects.filter(workflow__name=name).exists():
        raise RuntimeError(
            f"this database already holds runs of {name!r}: calibration figures start from no "
            "history (use a fresh database)"
        )
    loads = []
    for k in range(1, iterations + 1):
        summary = runner.run_and_check(name, planner=planner, sla=sla, params=params, timeout_s=timeout_s)
        loads.append(os.getloadavg()[0])
        progress(
            f"run {k}/{iterations}: {summary['status']} {summary['makespan_s'] or 0:.3f} s "
            f"(promise {summary['predicted_makespan_s']}), load {loads[-1]:.2f}"
        )
        if summary["status"] != "succeeded" or summary.get("correct") is False:
            raise RuntimeError(
                f"run {summary['run_id']} of {name} {summary['status']}"
                f"{'' if summary.get('correct') is not False else ' with a wrong result'}"
            )
    rows = stored_rows(name)
    for row, load in zip(rows, loads):
        row["load"] = load
    out = {"workflow": name, "planner": planner, "sla": sla, "params": params} | figures(rows)
    out["rows"] = [{k: row[k] for k in ("run_id", "makespan_s", "typical_s", "promises", "load")} for row in rows]
    return out
