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
from orchestrator.services import runs
from workers import cgroups, dataplane, readiness
from workers.context import RunGone, process_state
from workers.lease import Busy, Ended, Lease
from workers.records import StartupRecord
from workers.runtime import BranchRun, TaskFailed, end_branch, executor_name

log = logging.getLogger("slaflow.tasks")


def _meta(request) -> dict:
    return getattr(request, HEADER, None) or (request.headers or {}).get(HEADER) or {}


@shared_task(bind=True, name="workers.tasks.run_branch")
def run_branch(self, run_id: int, entries: list[str], worker: str | None = None, memory_mb: int | None = None):
    """A branch of logical worker ``worker`` starting at ``entries``, or (``worker`` None) an
    executor popping the run's ready flexible tasks on ``memory_mb``."""
    picked_up, cpu_start = time.time(), time.process_time()
    token = self.request.id
    executor_of = None if worker is not None else int(memory_mb or cgroups.current().memory_mb)
    if getattr(self.request, "slaflow_over", False):
        return end_branch(run_id, token, executor_of=executor_of)  # run over before this branch began
    lease = Lease(run_id, token)
    overheads: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        delivery = lease.acquire()
    except Ended:
        log.info("run %s: branch %s already ran; dropping a duplicate", run_id, token)
        return
    except Busy as busy:
        # A duplicate of a branch still running elsewhere: look again once it should have ended or died.
        log.info("run %s: branch %s is held by %s; retrying later", run_id, token, busy)
        raise self.retry(countdown=max(1.0, settings.SLAFLOW_LEASE_S / 2), max_retries=None)
    overheads["lease_s"] = time.perf_counter() - t0

    try:
        if executor_of is not None and delivery > 1:
            entries = readiness.held(run_id, token)  # what this executor had popped before its process died
        if delivery > settings.SLAFLOW_MAX_DELIVERIES:
            runs.fail_run(run_id, node_id=entries[-1] if entries else "", traceback="",
                          error=f"branch {token} (tasks {', '.join(entries)}) was delivered {delivery} times: its "
                                "worker process died each time (out of memory for its configuration?)")
            return
        t0 = time.perf_counter()
        try:
            ctx, cold, reason = process_state().begin(run_id)
        except RunGone:
            log.info("run %s is gone; dropping branch %s", run_id, token)
            return
        overheads["context_s"] = time.perf_counter() - t0
        limits = cgroups.current()
        startup = StartupRecord(
            branch_id=token, worker_id=worker or executor_name(token), memory_mb=limits.memory_mb,
            host=socket.gethostname(), pid=os.getpid(), entry_nodes=list(entries), cold=cold, reason=reason,
            requested_at=float(_meta(self.request).get("dispatched_at") or picked_up), started_at=picked_up,
            prewarmed=(reason == "prewarmed"),
        )
        branch = BranchRun(ctx, token=token, worker=worker, entries=list(entries), startup=startup,
                           delivery=delivery, executor_mb=executor_of)
        try:
            branch.execute()
        except Exception as exc:  # infrastructure trouble, not the user's task: fail loudly, never hang
            log.exception("run %s: branch %s crashed", run_id, token)
            dataplane.mark_over(run_id, "failed")
            branch.failure = branch.failure or TaskFailed(
                entries[0] if entries else "", f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc())
        branch.record(cpu_start)
        overheads.update(branch.overheads)
        process_state().touch(ctx.structure_hash)
    finally:
        lease.stop_heartbeat()
        end_branch(run_id, token, lease.me, executor_of, overheads)


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
