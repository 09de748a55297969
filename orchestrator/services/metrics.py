"""Writing observed metrics: one bulk write per branch, at its end.

The TaskRun rows exist from submission (with their planned fields); a branch
upserts its observed fields in one ``INSERT … ON CONFLICT DO UPDATE`` that
touches only those columns, which is far cheaper than per-row UPDATEs.
"""
from __future__ import annotations

from django.db import transaction

from orchestrator.models import TaskRun, WorkerStartup
from orchestrator.services.runs import epoch_to_dt

OBSERVED_FIELDS = [
    "status", "attempts", "memory_mb", "cpus", "worker_id", "branch_id", "host", "pid", "startup", "started_at",
    "finished_at", "start_s", "end_s", "input_wait_s", "download_s", "input_bytes", "inputs", "exec_s", "cpu_s",
    "output_bytes", "upload_s", "uploaded", "counter_update_s", "dispatch_s", "invocations", "optimizations",
    "enforced", "error", "traceback",
]
_COPIED = [f for f in OBSERVED_FIELDS if f not in ("attempts", "started_at", "finished_at", "start_s", "end_s")]


def _row(run_id: int, run_started_at: float, rec: dict, attempts: int) -> TaskRun:
    values = {name: rec.get(name) for name in _COPIED}
    values["error"] = values["error"] or ""
    values["traceback"] = values["traceback"] or ""
    started, finished = rec.get("started_at"), rec.get("finished_at")
    return TaskRun(
        run_id=run_id, node_id=rec["node_id"], function=rec["function"], attempts=attempts,
        started_at=epoch_to_dt(started), finished_at=epoch_to_dt(finished),
        start_s=started - run_started_at if started else None,
        end_s=finished - run_started_at if finished else None,
        **values,
    )


def record_branch(run_id: int, run_started_at: float, records: list[dict], startup: dict,
                  attempts: int = 1) -> None:
    """Store a branch's task records and its worker start-up in one transaction."""
    rows = [_row(run_id, run_started_at, rec, attempts) for rec in records]
    s = dict(startup)
    requested, started = s.pop("requested_at"), s.pop("started_at")
    ready, ended = s.pop("ready_at"), s.pop("ended_at")
    with transaction.atomic():
        if rows:
            TaskRun.objects.bulk_create(rows, update_conflicts=True, unique_fields=["run", "node_id"],
                                        update_fields=OBSERVED_FIELDS)
        WorkerStartup.objects.create(
            run_id=run_id, requested_at=epoch_to_dt(requested), started_at=epoch_to_dt(started),
            ready_at=epoch_to_dt(ready), ended_at=epoch_to_dt(ended),
            startup_s=max(0.0, (ready or ended or started) - requested),
            active_s=max(0.0, (ended or started) - started), **s,
        )
