"""The branch runtime: inputs → execute → output → counters → dispatch.

A branch is one Celery message. It runs its entry tasks, then keeps going
with downstream tasks that belong to it: in a planned run, the children its
logical worker owns; in a flexible (WUKONG) run, the first child it made ready.
Outputs stay in memory inside a branch and go to Redis only when a consumer
elsewhere needs them. Children made ready here for other workers are
dispatched from here: there is no central loop. Readiness is decided
atomically in Redis by ``workers.readiness`` — one call per finished task.

A planned branch whose own next task still waits for a remote input is
registered as that task's waiter by that same call, and blocks on its wake
list, but only for as long as the plan says the input should take (bounded);
then it uploads what the task needs from it and withdraws, and whoever
completes the input runs or dispatches the task. A task the plan starts in a
new branch of the worker (``n`` in the compact plan) is not waited for: its
inputs are uploaded and the branch may end.

A branch runs its ready tasks in planned start order (arrival order without
a plan).
"""
from __future__ import annotations

import heapq
import logging
import socket
import time
import traceback

from django.conf import settings

from orchestrator import canvas, codec
from orchestrator.graph import substitute
from workers import cgroups, dataplane, readiness
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
        self.task_cpu0 = 0.0  # process CPU time when the current task began
        self.records: list[TaskRecord] = []
        self.failure: TaskFailed | None = None
        self.stopped = False

    # --- the loop ---------------------------------------------------------------

    def execute(self) -> None:
        queue = _ReadyQueue(self.ctx)
        queue.extend(self.entries)
        ran: set[str] = set()
        while True:
            while queue and not (self.failure or self.stopped):
                nid = queue.pop()
                if nid in ran:  # the protocol never does this; say so loudly if it ever does
                    log.error("run %s: branch %s was given %s again", self.run_id, self.token, nid)
                    continue
                ran.add(nid)
                queue.extend(self.run_task(nid))
            if self.failure or self.stopped or not self.awaiting:
                return
            handed = self._wait_for_handoff()
            if handed is None:
                return
            queue.extend([handed])

    def _wait_for_handoff(self) -> str | None:
        deadline = time.monotonic() + self._wait_budget()
        while time.monotonic() < deadline:
            if dataplane.is_over(self.run_id):
                self.stopped = True
                return None
            child = readiness.next_handed(self.run_id, self.token, min(1.0, deadline - time.monotonic()))
            if child is not None:
                self.awaiting.pop(child, None)
                return child
        # Time is up: leave the inputs behind and withdraw. A hand-off that won the race still comes here.
        for child in list(self.awaiting):
            self._upload_for(child)
            if readiness.stop_waiting(self.run_id, child, self.token):
                del self.awaiting[child]
        if self.awaiting:
            child = readiness.next_handed(self.run_id, self.token, 5.0)
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
            node_id=nid, function=node.function, memory_mb=self.limits.memory_mb, cpus=self.limits.cpus,
            enforced=self.limits.enforced, worker_id=self.worker or f"f:{self.entries[0]}", branch_id=self.token,
            host=self.host, pid=self.limits.pid,
            startup="none" if self.records else ("cold" if self.startup.cold else "warm"),
        )
        rec.started_at, self.task_cpu0 = time.time(), time.process_time()
        if not dataplane.begin_task(self.run_id, nid):
            self.stopped = True  # failed or cancelled meanwhile: start nothing more
            return []
        self.records.append(rec)
        if self.startup.ready_at is None:
            self.startup.ready_at = rec.started_at

        if not self._reuse_stored_output(nid, rec):
            values = self._inputs(node, rec)
            fn = ctx.function(nid)
            t0 = time.perf_counter()
            try:
                value = fn(*substitute(node.args, values), **substitute(node.kwargs_dict, values))
            except Exception as exc:  # the user's task failed: the run fails with it
                rec.exec_s = time.perf_counter() - t0
                self._fail(rec, f"{type(exc).__name__}: {exc}", traceback.format_exc())
                return []
            rec.exec_s = time.perf_counter() - t0
            try:
                data = codec.dumps(value, where=f"output of {nid}")
                rec.output_bytes = len(data)
                if nid == ctx.sink:
                    self._store_result(rec, data, value)
            except codec.CodecError as exc:
                self._fail(rec, str(exc), traceback.format_exc())
                return []
            self.local[nid] = value
            self.encoded[nid] = data
        rec.status = "succeeded"
        if nid == ctx.sink:
            self._ended(rec)
            readiness.finish_task(self.run_id, nid, self.token, [], None)
            dataplane.mark_sink_done(self.run_id, rec.finished_at)
            return []
        return self._release_children(nid, rec)

    def _ended(self, rec: TaskRecord) -> None:
        """The task is done (output stored if it travels): its end, and the CPU it used in this
        process from its start — which tells the planner how much of it a CPU quota slows."""
        rec.finished_at = time.time()
        rec.cpu_s = time.process_time() - self.task_cpu0

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
        remote = [up for up in node.upstream if up not in self.local]
        for up in node.upstream:
            if up in self.local:
                size = len(self.encoded.get(up, b""))
                values[up] = self.local[up]
                rec.inputs.append({"node": up, "bytes": size, "download_s": 0.0, "local": True})
                rec.input_bytes += size
        if remote:
            td = time.perf_counter()
            raws = dataplane.get_outputs(self.run_id, remote)  # one round trip for all of them
            missing = [up for up, raw in zip(remote, raws) if raw is None]
            if missing:
                raise RuntimeError(f"run {self.run_id}: input(s) {', '.join(missing)} of {node.id!r} not in Redis")
            fetched = time.perf_counter() - td
            total = sum(len(raw) for raw in raws) or 1
            for up, raw in zip(remote, raws):
                td = time.perf_counter()
                values[up] = codec.loads(raw)
                # The shared round trip is split by size; decoding is each input's own.
                took = fetched * len(raw) / total + (time.perf_counter() - td)
                rec.inputs.append({"node": up, "bytes": len(raw), "download_s": took, "local": False})
                rec.input_bytes += len(raw)
                rec.download_s += took
        rec.input_wait_s = time.perf_counter() - t0
        return values

    def _needs_upload(self, nid: str) -> bool:
        """Upload unless every consumer will surely run in this branch."""
        flex_slot = self.worker is None
        for child in self.ctx.downstream[nid]:
            owner = self.ctx.worker_of(child)
            if self.worker is not None and owner == self.worker and not self.ctx.planned(child, "n"):
                continue  # our own worker: it waits for the child, uploads on withdrawal
            if self.worker is None and owner is None and flex_slot and len(self.ctx.graph[child].upstream) == 1:
                flex_slot = False  # the one child a flexible branch continues with
                continue
            return True
        return False

    def _upload_for(self, child: str) -> None:
        for up in self.ctx.graph[child].upstream:
            if up in self.encoded and up not in self.uploaded:
                t0 = time.perf_counter()
                dataplane.put_output(self.run_id, up, self.encoded[up])
                self.uploaded.add(up)
                rec = next((r for r in self.records if r.node_id == up), None)
                if rec is not None:
                    rec.upload_s, rec.uploaded = time.perf_counter() - t0, True

    def _store_result(self, rec: TaskRecord, data: bytes, value) -> None:
        from orchestrator.services import runs

        t0 = time.perf_counter()
        runs.store_result(self.run_id, data, value)
        rec.upload_s = time.perf_counter() - t0
        rec.uploaded = True

    # --- counters and dispatch ----------------------------------------------------

    def _mode(self, child: str) -> str:
        owner = self.ctx.worker_of(child)
        if self.worker is not None and owner == self.worker:
            return readiness.OWN_NEW if self.ctx.planned(child, "n") else readiness.OWN
        if self.worker is None and owner is None:
            return readiness.FLEX
        return readiness.OTHER

    def _release_children(self, nid: str, rec: TaskRecord) -> list[str]:
        """Record the task done and its children's counters in one call, then dispatch."""
        ctx = self.ctx
        kids = [readiness.Child(c, len(ctx.graph[c].upstream), self._mode(c)) for c in ctx.downstream[nid]]
        already = nid in self.uploaded
        output = self.encoded[nid] if not already and self._needs_upload(nid) else None
        # The task ends once its output is stored; counters and dispatching come after (the planner's
        # model: end = inputs + exec + upload, then post-task overhead). Without an upload it ends now.
        if output is None:
            self._ended(rec)
        t0 = time.perf_counter()
        outcomes = readiness.finish_task(self.run_id, nid, self.token, kids, output)
        if outcomes == [readiness.UPLOAD_FIRST]:
            # Another branch of our worker will run a child: it needs our output in Redis.
            output = self.encoded[nid]
            outcomes = readiness.finish_task(self.run_id, nid, self.token, kids, output)
        took = time.perf_counter() - t0
        if output is not None:
            self.uploaded.add(nid)
            # One round trip carried the output and the counters: it counts as the upload (the counters
            # add a constant sliver), so upload + counters sums to what the task really spent.
            rec.upload_s, rec.uploaded = took, True
            rec.counter_update_s = 0.0
            if rec.finished_at is None:
                self._ended(rec)
        else:
            rec.uploaded = already
            rec.counter_update_s = took

        continue_here: list[str] = []
        dispatch: dict[tuple[str | None, int, str], list[str]] = {}
        for kid, outcome in zip(kids, outcomes):
            if outcome == readiness.LOCAL:
                continue_here.append(kid.node_id)
                self.awaiting.pop(kid.node_id, None)  # we were its waiter and brought its last input
            elif outcome == readiness.DISPATCH:
                owner = ctx.worker_of(kid.node_id)
                # Planned children of one worker share a branch; flexible ones get one each.
                key = (owner, ctx.memory_of(kid.node_id), owner or kid.node_id)
                dispatch.setdefault(key, []).append(kid.node_id)
            elif outcome == readiness.WAITING:
                self.awaiting[kid.node_id] = nid

        t1 = time.perf_counter()
        if dispatch:
            sigs = []
            for (owner, memory_mb, _), children in dispatch.items():
                annotations = {c: ctx.annotations_of(c) for c in children if ctx.annotations_of(c)}
                sigs.append(canvas.branch_signature(self.run_id, children, worker=owner, memory_mb=memory_mb,
                                                    annotations=annotations))
            dataplane.add_live(self.run_id, [sig.options["task_id"] for sig in sigs])
            for sig in sigs:
                sig.apply_async()
            readiness.mark_dispatched(self.run_id, [c for cs in dispatch.values() for c in cs], self.token)
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


class _ReadyQueue:
    """Tasks this branch will run, earliest planned start first (arrival order without a plan)."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.heap: list[tuple[float, int, str]] = []
        self.seq = 0

    def extend(self, nids) -> None:
        for nid in nids:
            start = self.ctx.planned(nid, "s")
            heapq.heappush(self.heap, (float("inf") if start is None else float(start), self.seq, nid))
            self.seq += 1

    def pop(self) -> str:
        return heapq.heappop(self.heap)[2]

    def __bool__(self) -> bool:
        return bool(self.heap)


def end_branch(run_id: int, token: str, lease_holder: str = "") -> None:
    """Leave the run's live set (releasing the branch's lease); the last branch out finalizes the run."""
    from orchestrator.services import runs

    if dataplane.branch_end(run_id, token, lease_holder):
        runs.finalize_run(run_id)
