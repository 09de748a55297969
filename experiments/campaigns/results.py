"""A campaign's runs as rows, per-cell summaries, and its results.csv (``report.write_files`` writes it
beside report.html).

Two measures of SLA success per run:

* ``within_promise`` — the run finished within the makespan its planner promised
  for it (slaflow's: an honest planner at pN is within in about N % of runs);
* ``prior_within`` — the prior system's measure: its makespan is at most the
  N-th percentile (``average``: the mean) of the makespans of the earlier runs
  of the same workflow and inputs in this campaign (warm-ups included; needs
  two of them).

Prediction errors compare the plan with what happened, per run, as
|predicted − observed| / observed: makespan (the plan's typical makespan),
exec time (a task's time apart from its transfers, as the planner predicts
it), data size (output bytes), downloads, uploads and start-ups (each summed
over the run).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import Coalesce

from orchestrator.core import sla as sla_mod
from orchestrator.models import Experiment, ExperimentRun, TaskRun, WorkerStartup
from orchestrator.services.selectors import by_run

METRICS = ("makespan", "exec", "data size", "download", "upload", "start-up")
CSV_FIELDS = [
    "experiment",
    "position",
    "workflow",
    "params",
    "planner",
    "sla",
    "iteration",
    "warmup",
    "status",
    "run_id",
    "run_status",
    "makespan_s",
    "promise_s",
    "within_promise",
    "prior_within",
    "typical_s",
    "gb_seconds",
    "cpu_seconds",
    "cold_starts",
    "warm_starts",
    "planning_s",
    "optimizations",
    "attempts",
    "error",
] + [f"error_{m.replace(' ', '_').replace('-', '')}" for m in METRICS]


def _rel(predicted, observed):
    if predicted is None or not observed:
        return None
    return abs(predicted - observed) / observed


def rows(exp: Experiment) -> list[dict]:
    """One dict per scheduled run, in schedule order."""
    slots = list(exp.runs.select_related("run", "run__plan").order_by("position"))
    run_ids = [s.run_id for s in slots if s.run_id]
    # The planner's exec time is a task's time apart from its transfers (the function, encoding, state
    # updates: ``services.planning.load_history``), so that is what it is compared with.
    busy = F("end_s") - F("start_s") - Coalesce(F("download_s"), 0.0) - Coalesce(F("upload_s"), 0.0)
    sums = by_run(
        TaskRun.objects.filter(run_id__in=run_ids),
        p_exec=Sum("planned_exec_s"),
        o_exec=Sum(busy, output_field=FloatField()),
        p_bytes=Sum("planned_output_bytes"),
        o_bytes=Sum("output_bytes"),
        p_down=Sum("planned_download_s"),
        o_down=Sum("download_s"),
        p_up=Sum("planned_upload_s"),
        o_up=Sum("upload_s"),
        p_start=Sum("planned_startup_s"),
        planned=Count("id", filter=Q(planned_exec_s__isnull=False)),
    )
    startups = dict(
        WorkerStartup.objects.filter(run_id__in=run_ids)
        .values("run_id")
        .annotate(s=Sum("startup_s"))
        .values_list("run_id", "s")
    )
    out = []
    earlier: dict[tuple, list[float]] = defaultdict(list)
    for slot in slots:
        run = slot.run
        plan = getattr(run, "plan", None) if run else None
        row = {
            "experiment": exp.pk,
            "position": slot.position,
            "workflow": slot.workflow,
            "params": json.dumps(slot.params, sort_keys=True),
            "planner": slot.planner,
            "sla": slot.sla,
            "iteration": slot.iteration,
            "warmup": slot.warmup,
            "status": slot.status,
            "run_id": slot.run_id,
            "attempts": slot.attempts,
            "error": slot.error or (run.error if run else ""),
            "run_status": run.status if run else None,
        }
        if run is not None and slot.status == ExperimentRun.Status.DONE:
            makespan = run.makespan_s if run.status == "succeeded" else None
            promise = run.predicted_makespan_s
            key = (slot.workflow, row["params"])
            row.update(
                makespan_s=makespan,
                promise_s=promise,
                within_promise=(makespan <= promise) if makespan is not None and promise is not None else None,
                prior_within=_prior(makespan, earlier[key], slot.sla),
                typical_s=plan.predicted_median_s if plan else None,
                gb_seconds=run.gb_seconds,
                cpu_seconds=run.cpu_seconds,
                cold_starts=run.cold_starts,
                warm_starts=run.warm_starts,
                planning_s=plan.planning_time_s if plan else None,
                optimizations=(run.optimizations or {}).get("counts") or {},
            )
            if makespan is not None:
                earlier[key].append(makespan)
            s = sums.get(run.pk)
            if s and s["planned"] and makespan is not None:
                for metric, (p, o) in zip(
                    METRICS,
                    (
                        (row["typical_s"], makespan),
                        (s["p_exec"], s["o_exec"]),
                        (s["p_bytes"], s["o_bytes"]),
                        (s["p_down"], s["o_down"]),
                        (s["p_up"], s["o_up"]),
                        (s["p_start"], startups.get(run.pk)),
                    ),
                ):
                    row[_error_key(metric)] = _rel(p, o)
        out.append(row)
    return out


def _error_key(metric: str) -> str:
    return f"error_{metric.replace(' ', '_').replace('-', '')}"


def _prior(makespan, before: list[float], sla_text: str):
    if makespan is None or len(before) < 2:
        return None
    sla = sla_mod.parse(sla_text)
    if sla.is_average:
        bound = statistics.fmean(before)
    else:
        ordered = sorted(before)
        bound = ordered[min(len(ordered) - 1, max(0, round(sla.percentile / 100 * len(ordered)) - 1))]
    return makespan <= bound


def measured(all_rows: list[dict]) -> list[dict]:
    return [r for r in all_rows if not r["warmup"] and r["status"] == ExperimentRun.Status.DONE]


def _share(values) -> float | None:
    judged = [v for v in values if v is not None]
    return sum(judged) / len(judged) if judged else None


def _median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def cells(all_rows: list[dict]) -> list[dict]:
    """Per workflow × planner × SLA (measured runs only): counts, success by both measures, medians."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in all_rows:
        if not r["warmup"]:
            groups[(r["workflow"], r["planner"], r["sla"])].append(r)
    out = []
    for (workflow, planner, sla), rs in groups.items():
        done = [r for r in rs if r["status"] == ExperimentRun.Status.DONE]
        judged = [r["within_promise"] for r in done if r.get("within_promise") is not None]
        out.append(
            {
                "workflow": workflow,
                "planner": planner,
                "sla": sla,
                "runs": len(rs),
                "done": len(done),
                "failed": sum(r["status"] == ExperimentRun.Status.FAILED for r in rs),
                "task_failures": sum(r.get("run_status") == "failed" for r in done),
                "judged": len(judged),
                "within": sum(judged),
                "rate": _share(judged),
                "prior_rate": _share(r.get("prior_within") for r in done),
                "median_makespan_s": _median(r.get("makespan_s") for r in done),
                "median_promise_s": _median(r.get("promise_s") for r in done),
                "median_gb_seconds": _median(r.get("gb_seconds") for r in done),
                "median_error_makespan": _median(r.get("error_makespan") for r in done),
            }
        )
    return sorted(out, key=lambda c: (c["workflow"], c["planner"], sla_mod.parse(c["sla"]).sort_key))


def campaign_facts(exp: Experiment, all_rows: list[dict]) -> dict:
    """Campaign-wide figures: wall time, planning time and its share, GB-s of non-uniform vs uniform."""
    planning = sum(r.get("planning_s") or 0.0 for r in all_rows)
    gb = {
        p: _median(r.get("gb_seconds") for r in measured(all_rows) if r["planner"] == p)
        for p in {r["planner"] for r in all_rows}
    }
    ratio = None
    if gb.get("non-uniform") and gb.get("uniform"):
        ratio = gb["non-uniform"] / gb["uniform"]
    return {
        "wall_s": exp.wall_s,
        "planning_s": planning,
        "planning_share": planning / exp.wall_s if exp.wall_s else None,
        "runs": len(all_rows),
        "done": sum(r["status"] == "done" for r in all_rows),
        "failed": sum(r["status"] == "failed" for r in all_rows),
        "median_gb_seconds": gb,
        "nonuniform_over_uniform_gb": ratio,
    }


def write_csv_to(fh, all_rows: list[dict]) -> None:
    writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for r in all_rows:
        writer.writerow({k: (json.dumps(v, sort_keys=True) if isinstance(v, dict) else v) for k, v in r.items()})


def write_csv(path: Path, all_rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        write_csv_to(fh, all_rows)
