"""Celery tasks: thin — take the branch's lease, call the runtime, record, end.

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
from django.conf import settings

from orchestrator.canvas import HEADER
from workers import cgroups, dataplane
from workers.context import RunGone, process_state
from workers.lease import Busy, Ended, Lease
from workers.records import StartupRecord
from workers.runtime import BranchRun, TaskFailed, end_branch

log = logging.getLogger("slaflow.tasks")


def _meta(request) -> dict:
    return getattr(request, HEADER, None) or (request.headers or {}).get(HEADER) or {}


@shared_task(bind=True, name="workers.tasks.run_branch")
def run_branch(self, run_id: int, entries: list[str], worker: str | None = None):
    from orchestrator.services import runs

    picked_up, cpu_start = time.time(), time.process_time()
    token = self.request.id
    if getattr(self.request, "slaflow_over", False):
        return end_branch(run_id, token)  # failed or cancelled before this branch began: start nothing
    lease = Lease(run_id, token)
    try:
        delivery = lease.acquire()
    except Ended:
        log.info("run %s: branch %s already ran; dropping a duplicate", run_id, token)
        return
    except Busy as busy:
        # A duplicate of a branch still running elsewhere: look again once it should have ended or died.
        log.info("run %s: branch %s is held by %s; retrying later", run_id, token, busy)
        raise self.retry(countdown=max(1.0, settings.SLAFLOW_LEASE_S / 2), max_retries=None)

    try:
        if delivery > settings.SLAFLOW_MAX_DELIVERIES:
            runs.fail_run(run_id, node_id=entries[0], traceback="",
                          error=f"branch {token} (tasks {', '.join(entries)}) was delivered {delivery} times: its "
                                "worker process died each time (out of memory for its configuration?)")
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
            requested_at=float(_meta(self.request).get("dispatched_at") or picked_up), started_at=picked_up,
            prewarmed=(reason == "prewarmed"),
        )
        branch = BranchRun(ctx, token=token, worker=worker, entries=list(entries), startup=startup,
                           delivery=delivery)
        try:
            branch.execute()
        except Exception as exc:  # infrastructure trouble, not the user's task: fail loudly, never hang
            log.exception("run %s: branch %s crashed", run_id, token)
            dataplane.mark_over(run_id, "failed")
            branch.failure = branch.failure or TaskFailed(
                entries[0], f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc())
        branch.record(cpu_start)
        process_state().touch(ctx.structure_hash)
    finally:
        lease.stop_heartbeat()
        end_branch(run_id, token, lease.me)


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
