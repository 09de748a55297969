"""Celery tasks: thin — load the branch, call the runtime.

``run_branch`` is the only task that runs workflow code. ``prewarm`` is the
pre-warm ping: an ordinary message that makes a process of its queue's
configuration ready for a workflow.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import traceback

from celery import shared_task

from orchestrator.canvas import HEADER
from workers import cgroups, dataplane
from workers.context import RunGone, process_state
from workers.records import StartupRecord
from workers.runtime import BranchRun

log = logging.getLogger("slaflow.tasks")


def _meta(request) -> dict:
    return getattr(request, HEADER, None) or (request.headers or {}).get(HEADER) or {}


@shared_task(bind=True, name="workers.tasks.run_branch")
def run_branch(self, run_id: int, entries: list[str], worker: str | None = None):
    from django.conf import settings

    from orchestrator.services import runs

    picked_up = time.time()
    cpu_start = time.process_time()
    meta = _meta(self.request)
    token = self.request.id
    if getattr(self.request, "slaflow_over", False):
        dataplane.branch_end(run_id, token) and runs.finalize_run(run_id)
        return
    delivery = dataplane.count_delivery(run_id, token)
    if delivery > settings.SLAFLOW_MAX_DELIVERIES:
        dataplane.mark_over(run_id, "failed")
        runs.fail_run(run_id, error=f"branch {token} (tasks {', '.join(entries)}) was delivered {delivery} times: "
                                    "its worker process died each time (out of memory for its configuration?)",
                      traceback="", node_id=entries[0])
        if dataplane.branch_end(run_id, token):
            runs.finalize_run(run_id)
        return
    try:
        ctx, cold, reason = process_state().begin(run_id)
    except RunGone:
        log.info("run %s is gone; dropping branch %s", run_id, token)
        return
    limits = cgroups.current()
    startup = StartupRecord(
        branch_id=token, worker_id=worker or f"f:{entries[0]}", memory_mb=limits.memory_mb,
        host=socket.gethostname(), pid=os.getpid(), entry_nodes=list(entries), cold=cold, reason=reason,
        requested_at=float(meta.get("dispatched_at") or picked_up), started_at=picked_up,
        prewarmed=(reason == "prewarmed"),
    )
    branch = BranchRun(ctx, token=token, worker=worker, entries=list(entries), startup=startup, delivery=delivery)
    try:
        branch.execute()
    except Exception as exc:  # infrastructure trouble, not the user's task: fail loudly, never hang
        log.exception("run %s: branch %s crashed", run_id, token)
        dataplane.mark_over(run_id, "failed")
        branch.failure = branch.failure or _internal(entries[0], exc)
    branch.finish(cpu_start)
    process_state().touch(ctx.structure_hash)


def _internal(node_id: str, exc: Exception):
    from workers.runtime import TaskFailed

    return TaskFailed(node_id, f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc())


@shared_task(bind=True, name="workers.tasks.prewarm")
def prewarm(self, structure_hash: str, run_id: int | None = None):
    """Make this process warm for a workflow (its code, connections, the run's plan)."""
    state = process_state()
    if run_id is not None:
        try:
            state.begin(run_id)
        except RunGone:
            pass
    state.warm_up(structure_hash)
    return {"pid": os.getpid(), "memory_mb": cgroups.current().memory_mb}
