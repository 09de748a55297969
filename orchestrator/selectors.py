"""Reads about runs, shaped for commands, the API and the web UI."""
from __future__ import annotations

from orchestrator.models import TaskRun, WorkflowRun


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
        "error": run.error or None,
    }
