"""Writing observed metrics: bulk writes per branch (at its end, and in batches while a long one runs).

The TaskRun rows exist from submission (with their planned fields); a branch
upserts its observed fields in one ``INSERT … ON CONFLICT DO UPDATE`` that
touches only those columns, which is far cheaper than per-row UPDATEs, built
from plain dicts (``services.bulk``) rather than model instances.
"""

from __future__ import annotations

from django.db import close_old_connections, connection, transaction

from orchestrator.models import TaskRun, WorkerStartup
from orchestrator.services import bulk
from orchestrator.services.runs import epoch_to_dt

OBSERVED_FIELDS = [
    "status",
    "attempts",
    "memory_mb",
    "cpus",
    "worker_id",
    "branch_id",
    "host",
    "pid",
    "startup",
    "started_at",
    "finished_at",
    "start_s",
    "end_s",
    "input_wait_s",
    "download_s",
    "input_bytes",
    "inputs",
    "exec_s",
    "cpu_s",
    "output_bytes",
    "upload_s",
    "uploaded",
    "counter_update_s",
    "dispatch_s",
    "invocations",
    "optimizations",
    "enforced",
    "error",
    "traceback",
    "attempt_errors",
]
_COPIED = [f for f in OBSERVED_FIELDS if f not in ("attempts", "started_at", "finished_at", "start_s", "end_s")]
# What a record overwrites of the row made at submission; the function too: a mapped node's own row
# records its gather (``orchestrator.core.mapping``), whose times must not count as its function's.
UPDATED = OBSERVED_FIELDS + ["function"]


def _row(run_id: int, run_started_at: float, rec: dict, attempts: int) -> dict:
    row = {name: rec.get(name) for name in _COPIED}
    row["error"] = row["error"] or ""
    row["traceback"] = row["traceback"] or ""
    started, finished = rec.get("started_at"), rec.get("finished_at")
    row.update(
        # Executions of the function: this delivery's (retries included) after earlier deliveries' one each.
        run_id=run_id,
        node_id=rec["node_id"],
        function=rec["function"],
        attempts=(attempts - 1) + int(rec.get("attempts") or 1),
        started_at=epoch_to_dt(started),
        finished_at=epoch_to_dt(finished),
        start_s=started - run_started_at if started else None,
        end_s=finished - run_started_at if finished else None,
    )
    return row


def _fresh_connection() -> None:
    # Workers keep their connection between branches (CELERY_DB_REUSE_MAX): drop it here if it broke or aged
    # (never inside a caller's transaction, where "not in autocommit" would read as unusable).
    if not connection.in_atomic_block:
        close_old_connections()


def record_tasks(run_id: int, run_started_at: float, records: list[dict], attempts: int = 1) -> None:
    """Store task records of a branch that is still running (a batch of its finished tasks)."""
    _fresh_connection()
    bulk.insert(
        TaskRun,
        [_row(run_id, run_started_at, rec, attempts) for rec in records],
        conflict=("run_id", "node_id"),
        update=UPDATED,
    )


def record_branch(run_id: int, run_started_at: float, records: list[dict], startup: dict, attempts: int = 1) -> None:
    """Store a branch's (remaining) task records and its worker start-up in one transaction."""
    rows = [_row(run_id, run_started_at, rec, attempts) for rec in records]
    s = dict(startup)
    requested, started = s.pop("requested_at"), s.pop("started_at")
    ready, ended = s.pop("ready_at"), s.pop("ended_at")
    _fresh_connection()
    with transaction.atomic():
        bulk.insert(TaskRun, rows, conflict=("run_id", "node_id"), update=UPDATED)
        bulk.insert(
            WorkerStartup,
            [
                dict(
                    run_id=run_id,
                    requested_at=epoch_to_dt(requested),
                    started_at=epoch_to_dt(started),
                    ready_at=epoch_to_dt(ready),
                    ended_at=epoch_to_dt(ended),
                    startup_s=max(0.0, (ready or ended or started) - requested),
                    active_s=max(0.0, (ended or started) - started),
                    **s,
                )
            ],
        )
