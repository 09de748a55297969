"""Writing observed metrics: one bulk write per branch, at its end."""
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


def record_branch(run_id: int, run_started_at: float, records: list[dict], startup: dict) -> None:
    """Store a branch's task records and its worker start-up in one transaction."""
    with transaction.atomic():
        rows = {t.node_id: t for t in TaskRun.objects.select_for_update().filter(
            run_id=run_id, node_id__in=[r["node_id"] for r in records])}
        for rec in records:
            row = rows.get(rec["node_id"])
            if row is None:
                continue
            for name in _COPIED:
                value = rec.get(name)
                setattr(row, name, value if value is not None or name not in ("error", "traceback") else "")
            row.attempts += 1
            row.started_at = epoch_to_dt(rec["started_at"])
            row.finished_at = epoch_to_dt(rec["finished_at"])
            row.start_s = rec["started_at"] - run_started_at if rec["started_at"] else None
            row.end_s = rec["finished_at"] - run_started_at if rec["finished_at"] else None
        TaskRun.objects.bulk_update(list(rows.values()), OBSERVED_FIELDS, batch_size=500)
        s = dict(startup)
        requested, started = s.pop("requested_at"), s.pop("started_at")
        ready, ended = s.pop("ready_at"), s.pop("ended_at")
        WorkerStartup.objects.create(
            run_id=run_id, requested_at=epoch_to_dt(requested), started_at=epoch_to_dt(started),
            ready_at=epoch_to_dt(ready), ended_at=epoch_to_dt(ended),
            startup_s=max(0.0, (ready or ended or started) - requested),
            active_s=max(0.0, (ended or started) - started), **s,
        )
