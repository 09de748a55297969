"""One delivery of a branch message: the lease, the run's context, the branch's stages, its records, the end.

A branch message reaches a process as a Celery task (``workers.tasks.run_branch``) or a Lambda event
(``workers.lambda_handler``); either way ``start_branch`` does its work:

    lease.acquire  (``Busy``: another live process holds it; ``Ended``: it already ran)
      → a redelivery: note an OOM kill, take back what an executor had popped, or give up
        after ``SLAFLOW_MAX_DELIVERIES`` (the task it kept dying on fails, saying why)
      → the run's context (``process_state().begin``: cold or warm) and its pushed code
      → ``BranchRun.execute`` (``workers.runtime``: every task through its stages and hooks)
      → ``BranchRun.record`` (metrics in bulk; a failure fails the run)
    → ``end_branch`` (leave the live set; the last branch out finalizes the run) — unless the lease
      was taken over, when the new holder carries on.

``answer_ping`` is the other message's work: a pre-warm ping (PreWarm) makes this process warm for a
workflow and, with a target, waits for that branch to be handed here and runs it
(``optimizations.prewarm.runtime``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback

from django.conf import settings

from orchestrator.core import logs, startup as startup_kinds
from orchestrator.core.states import RunStatus, TaskStatus
from orchestrator.optimizations.prewarm import runtime as prewarm
from store import dataplane, readiness
from store.fencing import Fence, Fenced
from store.lease import Busy, Ended, Lease, holder_pid
from store.records import StartupRecord, TaskRecord
from workers import cgroups, ledger, tracing
from workers.context import RunGone, process_state
from workers.runtime import BranchRun, TaskFailed, end_branch, executor_name

log = logging.getLogger("slaflow.tasks")  # the name operators filter on, as before the split


def start_branch(
    run_id: int, token: str, entries: list[str], worker: str | None, memory_mb: int | None, meta: dict, *, over: bool
) -> None:
    """A branch message's work, whatever carried it (a Celery message, or a Lambda event in
    ``workers.lambda_handler``); raises ``Busy`` when another live process holds the branch."""
    picked_up, cpu_start = time.time(), time.process_time()
    executor_of = None if worker is not None else int(memory_mb or cgroups.current().memory_mb)
    if over:
        return end_branch(run_id, token, executor_of=executor_of)  # run over before this branch began
    with tracing.incoming(meta.get("trace")):
        _execute(
            run_id,
            token,
            entries,
            worker,
            executor_of,
            picked_up=picked_up,
            cpu_start=cpu_start,
            requested_at=float(meta.get("dispatched_at") or picked_up),
        )


def _execute(run_id: int, token: str, *args, **kwargs) -> None:
    """Run one branch under its lease (``Busy`` when another live process holds it): from a Celery
    message, or handed to a pre-warmed process (``answer_ping``). Its log records name the run and branch."""
    with logs.bound(run_id=run_id, branch=token):
        _execute_branch(run_id, token, *args, **kwargs)


def _execute_branch(
    run_id: int,
    token: str,
    entries: list[str],
    worker: str | None,
    executor_of: int | None,
    *,
    picked_up: float,
    cpu_start: float,
    requested_at: float,
) -> None:
    lease = Lease(run_id, token)
    overheads: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        delivery = lease.acquire()
    except Ended:
        log.info("run %s: branch %s already ran; dropping a duplicate", run_id, token)
        return
    overheads["lease_s"] = time.perf_counter() - t0

    try:
        if delivery > 1:
            # Noted at each takeover, not only at the last: a process's group is read while it is fresh.
            pid = holder_pid(lease.previous)
            if pid is not None and cgroups.oom_killed(pid, cgroups.current().memory_mb):
                dataplane.note_oom(run_id, token)
        if executor_of is not None and delivery > 1:
            # what this executor had popped before its process died (after the entries it was sent with, if
            # any: a flexible branch dispatched with its tasks, e.g. a generator's streaming consumer)
            entries = list(entries) + [n for n in readiness.held(run_id, token) if n not in entries]
        if delivery > settings.SLAFLOW_MAX_DELIVERIES:
            _give_up(run_id, token, entries, deaths=delivery - 1)
            return
        t0 = time.perf_counter()
        try:
            ctx, cold, reason = process_state().begin(run_id)
        except RunGone:
            log.info("run %s is gone; dropping branch %s", run_id, token)
            return
        overheads["context_s"] = time.perf_counter() - t0
        code_s = ctx.load_code()  # pushed code fetched and imported before the first task: part of the start-up
        limits = cgroups.current()
        startup = StartupRecord(
            branch_id=token,
            worker_id=worker or executor_name(token),
            memory_mb=limits.memory_mb,
            host=socket.gethostname(),
            pid=os.getpid(),
            entry_nodes=list(entries),
            cold=cold,
            reason=reason,
            requested_at=requested_at,
            started_at=picked_up,
            prewarmed=(reason == startup_kinds.PREWARMED),
            code_s=code_s,
        )
        branch = BranchRun(
            ctx,
            token=token,
            worker=worker,
            entries=list(entries),
            startup=startup,
            delivery=delivery,
            executor_mb=executor_of,
            lease=lease,
        )
        try:
            try:
                branch.execute()
            except Exception as exc:  # infrastructure trouble, not the user's task: fail loudly, never hang
                log.exception("run %s: branch %s crashed", run_id, token)
                try:
                    dataplane.mark_over(run_id, RunStatus.FAILED, fence=branch.fence)
                except Fenced:  # taken over meanwhile (its host was cut off): the new delivery carries on
                    branch.stopped = True
                else:
                    branch.failure = branch.failure or TaskFailed(
                        entries[0] if entries else "",
                        f"internal error: {type(exc).__name__}: {exc}",
                        traceback.format_exc(),
                    )
            branch.record(cpu_start)
        finally:
            branch.drop_outputs()
        overheads.update(branch.overheads)
        process_state().touch(ctx.structure_hash)
    finally:
        lease.stop_heartbeat()
        if lease.lost:  # another delivery holds the branch now: it stays live for that one
            log.warning("run %s: branch %s lost its lease (taken over); leaving it to the new holder", run_id, token)
        else:
            end_branch(run_id, token, lease.me, executor_of, overheads, fence=Fence(run_id, token, delivery))


def _give_up(run_id: int, token: str, entries: list[str], deaths: int) -> None:
    """A branch whose process died on every delivery: fail the task it was running, saying why."""
    limits = cgroups.current()
    node = dataplane.current_task(run_id, token) or (entries[-1] if entries else "")
    if dataplane.was_oom(run_id, token):
        error = f"task {node!r} was killed: out of memory on the {limits.memory_mb} MB configuration"
    else:
        error = (
            f"task {node!r}: its worker process died each time it ran ({deaths} times; out of memory on "
            f"the {limits.memory_mb} MB configuration?)"
        )
    error += f" — tried {deaths} times"
    if node:
        ledger.record_tasks(
            run_id,
            time.time(),
            [
                TaskRecord(
                    node_id=node,
                    status=TaskStatus.FAILED,
                    error=error,
                    memory_mb=limits.memory_mb,
                    attempts=deaths,
                    branch_id=token,
                ).as_dict()
            ],
        )
        dataplane.set_state(run_id, node, TaskStatus.FAILED)
    ledger.fail_run(run_id, node_id=node, traceback="", error=error)


def answer_ping(structure_hash: str, run_id: int | None = None, target: str = "") -> dict:
    """A pre-warm ping (PreWarm): make this process warm for a workflow (its code, connections and
    the run's plan) for the keep-alive window, so the branch that comes next starts warm; with a
    ``target``, wait for that branch to be handed here and run it (``prewarm.await_branch``)."""
    state = process_state()
    memory_mb = cgroups.current().memory_mb
    handed = None
    if run_id is not None:
        try:
            state.prepare(run_id)
            if target:
                dataplane.record_prewarmed(run_id, target, os.getpid(), memory_mb)
                handed = prewarm.await_branch(run_id, target, float(settings.SLAFLOW_KEEPALIVE_S))
        except RunGone:
            state.warm_up(structure_hash)
    else:
        state.warm_up(structure_hash)
    if handed is not None:  # the branch this ping was for, handed here: run it warm
        picked_up, cpu_start = time.time(), time.process_time()
        try:
            _execute(
                run_id,
                handed["token"],
                handed["entries"],
                handed["worker"],
                None,
                picked_up=picked_up,
                cpu_start=cpu_start,
                requested_at=float(handed["dispatched_at"]),
            )
        except Busy:
            log.info("run %s: branch %s handed over but already held; its message runs it", run_id, handed["token"])
    return {"pid": os.getpid(), "memory_mb": memory_mb, "target": target, "handed_off": handed is not None}
