"""The branch runtime: inputs → execute → output → counters → dispatch.

A branch is one Celery message. It runs its entry tasks, then keeps going
with downstream tasks that belong to it: in a planned run, the children its
logical worker owns; in a flexible (WUKONG) run, the first child it made ready.
Outputs stay in memory inside a branch and go to Redis only when a consumer
elsewhere needs them. Children made ready here for other workers are
dispatched from here: there is no central loop.

A planned branch whose next task still waits for a remote input registers as
that task's waiter and blocks on its wake list, but only for as long as the
plan says the input should take (bounded); then it uploads what the task needs
from it and withdraws, and whoever completes the input dispatches the task.
"""
from __future__ import annotations

import logging
import socket
import time
import traceback
from collections import deque

from django.conf import settings

from orchestrator import canvas, codec
from orchestrator.graph import substitute
from workers import cgroups, dataplane
from workers.context import RunContext
from workers.records import StartupRecord, TaskRecord

log = logging.getLogger("slaflow.runtime")


class TaskFailed(Exception):
    def __init__(self, node_id: str, error: str, tb: str):
        super().__init__(error)
        self.node_id, self.error, self.tb = node_id, error, tb


class BranchRun:
    def __init__(self, ctx: RunContext, *, token: str, worker: str | None, entries: list[str],
                 startup: StartupRecord, delivery: int):
        self.ctx = ctx
        self.run_id = ctx.run_id
        self.token = token
        self.worker = worker
        self.entries = entries
        self.startup = startup
        self.delivery = delivery
        self.limits = cgroups.current()
        self.host = socket.gethostname()
        self.local: dict[str, object] = {}  # outputs kept in this process
        self.encoded: dict[str, bytes] = {}  # their encoded form, for a late upload
        self.uploaded: set[str] = set()
        self.awaiting: dict[str, str] = {}  # child → the local task whose completion made us wait
        self.records: list[TaskRecord] = []
        self.failure: TaskFailed | None = None
        self.stopped = False
        self.flex_continued = False

    # --- the loop ---------------------------------------------------------------

    def execute(self) -> None:
        queue = deque(self.entries)
        while True:
            while queue and not self.failure:
                if dataplane.is_over(self.run_id):
                    self.stopped = True
                    break
                queue.extend(self.run_task(queue.popleft()))
            if self.failure or self.stopped or not self.awaiting:
                return
            handed = self._wait_for_handoff()
            if handed is None:
                return
            queue.append(handed)

    def _wait_for_handoff(self) -> str | None:
        deadline = time.monotonic() + self._wait_budget()
        while time.monotonic() < deadline:
            if dataplane.is_over(self.run_id):
                self.stopped = True
                return None
            child = dataplane.next_handed(self.run_id, self.token, min(1.0, deadline - time.monotonic()))
            if child is not None:
                self.awaiting.pop(child, None)
                return child
        # Time is up: leave the inputs behind, withdraw; a hand-off that won the race still comes to us.
        for child in list(self.awaiting):
            self._upload_for(child)
            if dataplane.stop_waiting(self.run_id, child, self.token):
                del self.awaiting[child]
        if self.awaiting:
            child = dataplane.next_handed(self.run_id, self.token, 5.0)
            if child is not None:
                self.awaiting.pop(child, None)
                return child
        return None

    def _wait_budget(self) -> float:
        """As long as the plan predicts the awaited inputs take, with slack, bounded."""
        cap = float(settings.SLAFLOW_MAX_WAIT_S)
        budget = 1.0
        now_s = time.time() - self.ctx.started_at
        for child in self.awaiting:
            start = self.ctx.planned(child, "s")
            if start is not None:
                budget = max(budget, 1.5 * (start - now_s) + 1.0)
        return min(budget, cap)

    # --- one task ---------------------------------------------------------------

    def run_task(self, nid: str) -> list[str]:
        """Run one task; returns the children this branch continues with."""
        ctx = self.ctx
        node = ctx.graph[nid]
        rec = TaskRecord(
            node_id=nid, function=node.function, memory_mb=self.limits.memory_mb, cpus=self.limits.cpus, enforced=self.limits.enforced,
            worker_id=self.worker or f"f:{self.entries[0]}", branch_id=self.token, host=self.host,
            pid=self.limits.pid, startup="none" if self.records else ("cold" if self.startup.cold else "warm"),
        )
        self.records.append(rec)
        self.flex_continued = False  # each flexible task may continue with one child of its own
        rec.started_at = time.time()
        if self.startup.ready_at is None:
            self.startup.ready_at = rec.started_at
        dataplane.set_state(self.run_id, nid, "running")

        reused = self._reuse_stored_output(nid, rec)
        if not reused:
            values = self._inputs(node, rec)
            fn = ctx.function(nid)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                value = fn(*substitute(node.args, values), **substitute(node.kwargs_dict, values))
            except Exception as exc:  # the user's task failed: the run fails with it
                rec.exec_s = time.perf_counter() - t0
                self._fail(rec, f"{type(exc).__name__}: {exc}", traceback.format_exc())
                return []
            rec.exec_s = time.perf_counter() - t0
            rec.cpu_s = time.process_time() - c0
            try:
                data = codec.dumps(value, where=f"output of {nid}")
            except codec.CodecError as exc:
                self._fail(rec, str(exc), traceback.format_exc())
                return []
            rec.output_bytes = len(data)
            self.local[nid] = value
            if nid == ctx.sink:
                try:
                    self._store_result(rec, data, value)
                except codec.CodecError as exc:
                    self._fail(rec, str(exc), traceback.format_exc())
                    return []
            else:
                self.encoded[nid] = data
                if self._needs_upload(nid):
                    self._upload(nid, rec)
                else:
                    rec.uploaded = False
                dataplane.mark_done(self.run_id, nid)
        rec.finished_at = time.time()
        rec.status = "succeeded"
        if nid == ctx.sink:
            dataplane.mark_sink_done(self.run_id, rec.finished_at)
            return []
        return self._release_children(nid, rec)

    def _reuse_stored_output(self, nid: str, rec: TaskRecord) -> bool:
        """On redelivery, a task whose output is already stored is not run again."""
        if self.delivery == 1 or nid == self.ctx.sink:
            return False
        raw = dataplane.get_output(self.run_id, nid)
        if raw is None:
            return False
        self.local[nid] = codec.loads(raw)
        self.encoded[nid] = raw
        self.uploaded.add(nid)
        rec.output_bytes, rec.uploaded, rec.exec_s = len(raw), True, 0.0
        rec.optimizations["reused_after_redelivery"] = True
        return True

    def _inputs(self, node, rec: TaskRecord) -> dict[str, object]:
        t0 = time.perf_counter()
        values: dict[str, object] = {}
        for up in node.upstream:
            if up in self.local:
                size = len(self.encoded.get(up, b""))
                values[up] = self.local[up]
                rec.inputs.append({"node": up, "bytes": size, "download_s": 0.0, "local": True})
                rec.input_bytes += size
                continue
            td = time.perf_counter()
            raw = dataplane.get_output(self.run_id, up)
            if raw is None:
                raise RuntimeError(f"run {self.run_id}: input {up!r} of {node.id!r} is not in Redis")
            values[up] = codec.loads(raw)
            took = time.perf_counter() - td
            rec.inputs.append({"node": up, "bytes": len(raw), "download_s": took, "local": False})
            rec.input_bytes += len(raw)
            rec.download_s += took
        rec.input_wait_s = time.perf_counter() - t0
        return values

    def _needs_upload(self, nid: str) -> bool:
        """Upload unless every consumer will surely run in this branch."""
        flex_slot = self.worker is None and not self.flex_continued
        for child in self.ctx.downstream[nid]:
            owner = self.ctx.worker_of(child)
            if self.worker is not None and owner == self.worker:
                continue  # our own worker: it waits for the child, uploads on withdrawal
            if self.worker is None and owner is None and flex_slot and len(self.ctx.graph[child].upstream) == 1:
                flex_slot = False  # the one child a flexible branch continues with
                continue
            return True
        return False

    def _upload(self, nid: str, rec: TaskRecord | None) -> None:
        t0 = time.perf_counter()
        dataplane.put_output(self.run_id, nid, self.encoded[nid])
        self.uploaded.add(nid)
        if rec is not None:
            rec.upload_s = time.perf_counter() - t0
            rec.uploaded = True

    def _upload_for(self, child: str) -> None:
        for up in self.ctx.graph[child].upstream:
            if up in self.encoded and up not in self.uploaded:
                self._upload(up, next((r for r in self.records if r.node_id == up), None))

    def _store_result(self, rec: TaskRecord, data: bytes, value) -> None:
        from orchestrator.services import runs

        t0 = time.perf_counter()
        runs.store_result(self.run_id, data, value)
        rec.upload_s = time.perf_counter() - t0
        rec.uploaded = True

    # --- counters and dispatch ----------------------------------------------------

    def _release_children(self, nid: str, rec: TaskRecord) -> list[str]:
        ctx = self.ctx
        t0 = time.perf_counter()
        continue_here: list[str] = []
        dispatch: dict[tuple[str | None, int, str], list[str]] = {}
        for child in ctx.downstream[nid]:
            needed = len(ctx.graph[child].upstream)
            outcome = dataplane.complete(self.run_id, child, nid, needed, self.token)
            owner = ctx.worker_of(child)
            if outcome == dataplane.READY:
                if self.worker is not None and owner == self.worker:
                    continue_here.append(child)
                elif self.worker is None and owner is None and not self.flex_continued:
                    self.flex_continued = True
                    continue_here.append(child)
                else:
                    # Planned children of one worker share a branch; flexible ones get one each.
                    key = (owner, ctx.memory_of(child), owner or child)
                    dispatch.setdefault(key, []).append(child)
            elif outcome == dataplane.NOT_READY and self.worker is not None and owner == self.worker:
                got = dataplane.wait_for(self.run_id, child, needed, self.token)
                if got == 1:
                    continue_here.append(child)
                elif got == 0:
                    self.awaiting[child] = nid
        rec.counter_update_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        for (owner, memory_mb, _), children in dispatch.items():
            annotations = {c: ctx.annotations_of(c) for c in children if ctx.annotations_of(c)}
            sig = canvas.branch_signature(self.run_id, children, worker=owner, memory_mb=memory_mb,
                                          annotations=annotations)
            dataplane.add_live(self.run_id, [sig.options["task_id"]])
            sig.apply_async()
            for child in children:
                dataplane.mark_taken(self.run_id, child, "d", self.token)
        for child in continue_here:
            dataplane.mark_taken(self.run_id, child, "l", self.token)
        rec.dispatch_s = time.perf_counter() - t1
        rec.invocations = len(dispatch)
        return continue_here

    # --- failure and the end ----------------------------------------------------------

    def _fail(self, rec: TaskRecord, error: str, tb: str) -> None:
        rec.status = "failed"
        rec.finished_at = time.time()
        rec.error, rec.traceback = error, tb
        dataplane.set_state(self.run_id, rec.node_id, "failed")
        dataplane.mark_over(self.run_id, "failed")
        self.failure = TaskFailed(rec.node_id, error, tb)
        log.warning("run %s: task %s failed: %s", self.run_id, rec.node_id, error)

    def record(self, cpu_start: float) -> None:
        """Write this branch's metrics in bulk and report a failure."""
        from orchestrator.services import metrics, runs

        self.startup.ended_at = time.time()
        self.startup.cpu_s = time.process_time() - cpu_start
        self.startup.tasks = len(self.records)
        self.startup.enforced = self.limits.enforced
        try:
            metrics.record_branch(self.run_id, self.ctx.started_at, [r.as_dict() for r in self.records],
                                  self.startup.as_dict(), attempts=self.delivery)
        except Exception as exc:  # metrics lost must not hang the run: fail it, loudly
            log.exception("run %s: could not record branch %s", self.run_id, self.token)
            self.failure = self.failure or TaskFailed(
                self.entries[0], f"internal error recording metrics: {type(exc).__name__}: {exc}",
                traceback.format_exc())
        if self.failure:
            runs.fail_run(self.run_id, error=self.failure.error, traceback=self.failure.tb,
                          node_id=self.failure.node_id)


def end_branch(run_id: int, token: str) -> None:
    """Leave the run's live set; the last branch out finalizes the run."""
    from orchestrator.services import runs

    if dataplane.branch_end(run_id, token):
        runs.finalize_run(run_id)
