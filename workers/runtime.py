"""The branch runtime: each task through fixed stages, hooks at every one.

A branch is one Celery message. It runs its entry tasks, then keeps going
with downstream tasks that belong to it: in a planned run, the children its
logical worker owns; in a flexible (WUKONG) run, one child it made ready.
Outputs stay in memory inside a branch and go to the output store (``store``:
Redis for small ones, the host's shared memory for big ones) only when a
consumer elsewhere needs them. Readiness is decided atomically in Redis by
``store.readiness`` — one call per finished task — and the worker that
completes a task dispatches what became ready: there is no central loop.

A flexible branch is an *executor*: when it has nothing of its own left it
pops the next ready flexible task of its run and configuration, and ends when
there is none (``readiness.pop`` retires it in the same step).

Per task (``run_task``), over an ``ActiveTask``::

    begin → before_inputs → inputs → after_inputs → before_execute → execute
          → after_execute → should_upload? local_children? → before_upload
          → [stream_output?*] upload + counters [delay_upload? when the output
          must travel] → after_complete → before_dispatch → dispatch* → after_dispatch
          → [write_stream?*]

(a mapped node's own turn: before_inputs → gather* → after_inputs, then from
should_upload on). The stages marked * are the branch's travel (below).

Upload and counters are one atomic Lua call: the output must be in Redis by
the time a child is released. Cross-cutting behaviour lives in hooks
(``workers.hooks``, ``workers.core_hooks``), not here.

A planned branch whose own next task still waits for a remote input is
registered as that task's waiter by the same call and blocks on its wake
list, but only as long as the plan says the input should take (bounded);
then it uploads what the task needs from it and withdraws, and whoever
completes the input runs or dispatches the task. A task the plan starts in a
new branch of the worker (``n`` in the compact plan) is not waited for.

A branch runs its ready tasks in planned start order (arrival order without
a plan). Where outputs and children go once a task is done — dispatch, the
stages of output streams, a generator's items, a mapped node's elements — is
the branch's ``OutputTravel`` (``branch.travel``, ``workers.travel``), made
with the branch and given only what it uses; the stages here call it.
Optimizations are hooks like any other (``orchestrator.optimizations.<name>.runtime``:
TaskDup answers ``while_waiting``, delayed I/O ``delay_upload``, streaming
``stream_output`` and ``write_stream``); each hook gets the branch as a
read-only ``BranchView`` (``workers.view``), never this object.
"""

from __future__ import annotations

import heapq
import inspect
import logging
import socket
import time
import traceback

from django.conf import settings

from orchestrator.core import codec, logs, mapping, startup as startup_kinds
from orchestrator.core.graph import substitute
from orchestrator.core.options import attempts_text
from orchestrator.core.states import RunStatus, TaskStatus, move
from orchestrator.dbretry import retrying
from store import cores, dataplane, fencing, flags, readiness, streams, tiers
from store.interrupts import Cancelled, Duplicated, Guard, TimeLimitExceeded
from store.recorder import recorder
from store.records import StartupRecord, TaskRecord
from store.shm import StoreError
from workers import cgroups, ledger, lineage, results
from workers.context import RunContext
from workers.core_hooks import hooks_for
from workers.hooks import HookChain, InputFailed, SkipTask, StopBranch
from workers.travel import OutputTravel
from workers.view import ActiveTask, BranchView

log = logging.getLogger("slaflow.runtime")


class TaskFailed(Exception):
    def __init__(self, node_id: str, error: str, tb: str):
        super().__init__(error)
        self.node_id, self.error, self.tb = node_id, error, tb


class BranchRun:
    def __init__(
        self,
        ctx: RunContext,
        *,
        token: str,
        worker: str | None,
        entries: list[str],
        startup: StartupRecord,
        delivery: int,
        executor_mb: int | None = None,
        hooks=None,
        lease=None,
    ):
        self.ctx = ctx
        self.run_id = ctx.run_id
        self.token = token
        self.worker = worker
        self.entries = entries
        self.startup = startup
        self.delivery = delivery
        self.lease = lease  # None when run outside a Celery task (tests)
        # Every write of this delivery is refused once the branch is taken over (store.fencing).
        self.fence = fencing.Fence(self.run_id, token, delivery) if lease is not None else None
        # A flexible branch pops ready flexible tasks of this configuration when it has none left.
        self.executor_mb = executor_mb if worker is None else None
        self.limits = cgroups.current()
        # Each function body of a planned branch holds a core of the host (``store.cores``) when the run and
        # this worker both say so. Executors do not: a run has no more of them than the cores already
        # (``readiness.executor_cap``), and a body that must wait for a slot waits a poll at least — with the
        # branch that keeps its finished task's one child beside them, a no-op fan-out's bodies queued for
        # slots and ran four times slower.
        self.bounded = ctx.within_cores and cores.enabled() and executor_mb is None
        self.host = socket.gethostname()
        self.hooks = HookChain(hooks_for(ctx) if hooks is None else hooks, run_id=self.run_id)
        self.view = BranchView(self)  # what the hooks get: this branch, read-only
        self.local: dict[str, object] = {}  # outputs kept in this process
        self.encoded: dict[str, codec.Encoded] = {}  # their encoded form, for a late upload
        self.sizes: dict[str, int] = {}  # their encoded size (kept when they are let go)
        self.uploaded: set[str] = set()
        self.used: dict[str, int] = {}  # held output → how many of its children ran here (``_let_go``)
        self.awaiting: dict[str, str] = {}  # child → the local task whose completion made us wait
        self.begun: set[str] = set()  # tasks whose begin was done by a pop
        self.queue = _ReadyQueue(ctx)  # this branch's own ready tasks
        self.retired = False  # an executor whose finish call found nothing left to pop
        self.records: list[TaskRecord] = []
        self.failure: TaskFailed | None = None
        self.stopped = False
        self.overheads: dict[str, float] = {"record_s": 0.0}  # this branch's own costs, summed per run
        self.flushed = 0  # records already written (a long branch writes them in batches as it goes)
        # Where outputs and children go once a task is done (``workers.travel``): given what it uses, no more.
        self.travel = OutputTravel(
            ctx,
            token=token,
            worker=worker,
            delivery=delivery,
            fence=self.fence,
            hooks=self.hooks,
            view=self.view,
            local=self.local,
            encoded=self.encoded,
            sizes=self.sizes,
            uploaded=self.uploaded,
            records=self.records,
            fail=self._fail,
        )

    @property
    def is_executor(self) -> bool:
        return self.executor_mb is not None

    # --- the loop ---------------------------------------------------------------

    def execute(self) -> None:
        try:
            self.hooks.run("branch_start", self.view)
            self._loop()
        except StopBranch as stop:
            log.info("run %s: branch %s stops: %s", self.run_id, self.token, stop)
            self.stopped = True
        self.hooks.run("branch_end", self.view)

    def _loop(self) -> None:
        queue = self.queue
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
                if len(self.records) - self.flushed >= settings.SLAFLOW_RECORD_BATCH and not self.failure:
                    self._flush()
            if self.failure or self.stopped:
                return
            if self.is_executor:
                if self.retired:
                    return  # the last finish found the ready list empty and retired us
                nid, over = readiness.pop(self.run_id, self.executor_mb, self.token, fence=self.fence)
                if over:
                    raise StopBranch(f"run {self.run_id} is over")
                if nid is None:
                    return  # nothing left to pop: retired
                self.begun.add(nid)
                queue.extend([nid])
                continue
            if not self.awaiting:
                return
            handed = self._wait_for_handoff()
            if handed is None:
                return
            queue.extend([handed])

    def _wait_for_handoff(self) -> str | None:
        deadline = time.monotonic() + self._wait_budget()
        # With a hook to ask while waiting (TaskDup), wake often enough to ask it.
        slice_s = 0.1 if self.hooks.at("while_waiting") else 1.0
        while time.monotonic() < deadline:
            if dataplane.is_over(self.run_id):
                self.stopped = True
                return None
            child = readiness.next_handed(self.run_id, self.token, min(slice_s, deadline - time.monotonic()))
            if child is not None:
                self.awaiting.pop(child, None)
                return child
            for extra in self.hooks.decide("while_waiting", self.view) or ():
                for nxt in self.run_task(extra, duplicate=True):  # its completion may bring our child
                    self.awaiting.pop(nxt, None)
                    return nxt
        # Time is up: leave the inputs behind and withdraw. A hand-off that won the race still comes here.
        for child in list(self.awaiting):
            self.travel.upload_for(child)
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

    # --- one task, stage by stage ------------------------------------------------------

    def run_task(self, nid: str, *, duplicate: bool = False) -> list[str]:
        """Run one task through its stages; returns the children this branch continues with.
        ``duplicate``: a task of another branch, run here too (a ``while_waiting`` hook asked)."""
        with logs.bound(task_id=nid):
            return self._run_task(nid, duplicate)

    def _run_task(self, nid: str, duplicate: bool) -> list[str]:
        task = self._begin(nid, duplicate)
        hooks = self.hooks
        try:
            if task.killed.startswith("duplicated"):
                raise SkipTask(task.killed)
            hooks.run("before_inputs", self.view, task)
            if self.ctx.mapped_over(nid) is not None:
                if not self.travel.gather(task):
                    return []
            elif not self._reuse_stored_output(task):
                if not self.stage_inputs(task):
                    return []
                hooks.run("after_inputs", self.view, task)
                hooks.run("before_execute", self.view, task)
                if not self.stage_execute(task):
                    return []
                hooks.run("after_execute", self.view, task)
            self.stage_decide(task)
            hooks.run("before_upload", self.view, task)
            self.stage_upload(task)
            self._let_go(task)
            hooks.run("after_complete", self.view, task)
            if task.dispatch or (task.finished and task.finished.executors):
                hooks.run("before_dispatch", self.view, task)
                self.travel.stage_dispatch(task)
                hooks.run("after_dispatch", self.view, task)
            if task.stream_chunk:
                self.travel.stage_stream(task)  # its stream's hook writes it, now that its consumers run
                if task.record.status == TaskStatus.RUNNING:  # its stream is written (else it failed)
                    task.record.status = move(task.record.status, TaskStatus.SUCCEEDED)
        except SkipTask as skip:
            log.info("run %s: task %s skipped: %s", self.run_id, nid, skip)
            self.records.remove(task.record)
            return []
        if task.duplicate and task.finished is not None and not task.finished.first:
            self.records.remove(task.record)  # the original finished first: its record stands
        return task.continue_here

    def drop_outputs(self) -> None:
        """The branch is over: the outputs it holds go (readers elsewhere have the stored copies). The
        branch and its view and travel refer to each other, so without this they — and every array
        they hold — waited for Python's cyclic collector, which counts objects, not bytes: a pool
        process kept several runs' outputs (hundreds of MB) alive, up to its memory limit."""
        for held in (self.local, self.encoded, self.sizes, self.used):
            held.clear()

    def _let_go(self, task: ActiveTask) -> None:
        """Let go of held outputs nobody in this branch needs any more. A branch (an executor above all)
        runs many tasks; holding every output it made or read, and its encoded copy, for its whole life
        grew a pool process past its memory limit within one run (32 vectors of 8 MB: 2 GB, killed by
        its cgroup, the branch redelivered). An input is dropped once every child of it ran here, or —
        when it is stored in this host's shared memory, where reading it again is a mapping, not a copy
        — once the task that read it is done; a stored output's encoded copy (kept only for a late
        upload) as soon as it is stored. A child that runs here later reads the stored copy."""
        ctx, store = self.ctx, tiers.local()

        def mapped(size: int) -> bool:  # stored in this host's shared memory: reading it again is a mapping
            in_bucket = store.object_min_bytes and size >= store.object_min_bytes
            return bool(store.min_bytes and size >= store.min_bytes and not in_bucket)

        nid = task.node_id
        if nid in self.uploaded and mapped(self.sizes.get(nid, 0)):
            self.encoded.pop(nid, None)
        if ctx.mapped_over(nid) is not None:
            return
        for up in set(task.node.upstream):
            if up not in self.local:
                continue
            kids = ctx.children(up)
            self.used[up] = used = self.used.get(up, 0) + 1
            done_here = used >= len(kids) and not any(ctx.mapped_over(c) == up for c in kids)
            if done_here or (up in self.uploaded and mapped(self.sizes.get(up, 0))):
                self.local.pop(up, None)
                self.encoded.pop(up, None)

    def _begin(self, nid: str, duplicate: bool) -> ActiveTask:
        ctx = self.ctx
        node = ctx.node(nid)
        rec = TaskRecord(
            node_id=nid,
            function=mapping.GATHER if ctx.mapped_over(nid) else node.function,
            memory_mb=self.limits.memory_mb,
            cpus=self.limits.cpus,
            enforced=self.limits.enforced,
            worker_id=self.worker or executor_name(self.token),
            branch_id=self.token,
            host=self.host,
            pid=self.limits.pid,
            startup=startup_kinds.NONE
            if self.records
            else (startup_kinds.COLD if self.startup.cold else startup_kinds.WARM),
        )
        if nid in self.begun:  # a pop began it (and checked the run is not over)
            self.begun.discard(nid)
            killed = dataplane.killed_reason(self.run_id, nid) if self.delivery > 1 else None
        else:
            go, killed = dataplane.begin_task(self.run_id, nid, self.token, fence=self.fence)
            if not go:
                raise StopBranch(f"run {self.run_id} is over")  # failed or cancelled meanwhile
        self.records.append(rec)
        if self.startup.ready_at is None:
            self.startup.ready_at = time.time()
        task = ActiveTask(node=node, record=rec, is_sink=(nid == ctx.sink), duplicate=duplicate)
        if killed:  # a process of ours killed itself to stop this task before this delivery
            kind, _, reason = killed.partition(":")
            if kind == "cancelled":
                rec.status = move(rec.status, TaskStatus.CANCELLED)
                raise StopBranch(reason)
            task.killed = reason if kind != "duplicated" else f"duplicated: {reason}"
        return task

    def _reuse_stored_output(self, task: ActiveTask) -> bool:
        """On redelivery, a task whose output is already stored is not run again."""
        nid, rec = task.node_id, task.record
        if self.delivery == 1 or task.is_sink:
            return False
        try:  # stored on a host that is gone: recomputed from its inputs (workers.lineage), in its place
            got = lineage.get_outputs(self, [nid])[0]
        except StoreError:  # and cannot be: run it again
            got = None
        if got is not None:
            task.value, task.data = got.load(), codec.Encoded([got.buf])
        elif streams.complete(self.run_id, nid):
            raw = bytes(streams.read(self.run_id, nid))
            task.value, task.data = codec.loads(raw), codec.Encoded([raw])
        else:
            return False
        self.uploaded.add(nid)
        rec.output_bytes, rec.uploaded, rec.exec_s = len(task.data), True, 0.0
        rec.optimizations["reused_after_redelivery"] = True
        return True

    def stage_inputs(self, task: ActiveTask) -> bool:
        """Every input into ``task.values``; False when one cannot be had (the task failed)."""
        node, rec, values = task.node, task.record, task.values
        remote = []
        iterate = self.ctx.task_options(node.id).streaming
        for up in node.upstream:
            if iterate and self.travel.streams_items(up):
                values[up] = self.travel.items_of(up)
                rec.inputs.append(
                    {"node": up, "bytes": 0, "download_s": 0.0, "local": up in self.local, "via": "stream"}
                )
                continue
            if up in self.local:
                size = self.sizes.get(up, 0)
                values[up] = self.local[up]
                rec.inputs.append({"node": up, "bytes": size, "download_s": 0.0, "local": True})
                rec.input_bytes += size
                continue
            try:
                given = self.hooks.decide("fetch_input", self.view, task, up)
            except InputFailed as exc:
                self._fail(task, f"input {up!r} of {node.id!r}: {exc}", "")
                return False
            if given is not None:
                values[up] = given.value
                rec.inputs.append(
                    {
                        "node": up,
                        "bytes": given.size,
                        "download_s": given.download_s,
                        "local": False,
                        "via": given.how,
                        **({"tier": given.tier} if given.tier else {}),
                    }
                )
                rec.input_bytes += given.size
                rec.download_s += given.download_s
                continue
            remote.append(up)
        if not remote:
            return True
        td = time.perf_counter()
        try:
            # One round trip for all of them (then mapped/fetched); one lost with its host is recomputed.
            got = lineage.get_outputs(self, remote)
        except StoreError as exc:  # a file changed, cut short or gone, or its host unreachable: said, never guessed
            self._fail(task, f"input of {node.id!r}: {exc}", "")
            return False
        missing = [up for up, g in zip(remote, got) if g is None]
        if missing:
            raise RuntimeError(f"run {self.run_id}: input(s) {', '.join(missing)} of {node.id!r} not stored")
        fetched = time.perf_counter() - td
        total = sum(g.size for g in got) or 1
        for up, g in zip(remote, got):
            td = time.perf_counter()
            values[up] = g.load()
            # The shared round trip is split by size; decoding is each input's own.
            took = fetched * g.size / total + (time.perf_counter() - td)
            rec.inputs.append({"node": up, "bytes": g.size, "download_s": took, "local": False, "tier": g.tier})
            rec.input_bytes += g.size
            rec.download_s += took
        return True

    def stage_execute(self, task: ActiveTask) -> bool:
        """Run the function — under its time limit, stoppable by its run's cancellation, retried as its
        options say — and encode its output; False when the task failed."""
        node, rec, values = task.node, task.record, task.values
        if task.killed:  # stopped by killing its process in an earlier delivery: it fails, not again
            self._fail(task, task.killed, "")
            return False
        try:
            fn = self.ctx.function(node.id)
        except Exception as exc:  # noqa: BLE001 — e.g. pushed code that fails to load: the task fails, naming it
            self._fail(
                task, f"{node.function}: cannot load the function: {type(exc).__name__}: {exc}", traceback.format_exc()
            )
            return False
        opts = self.ctx.task_options(node.id)
        base, index = mapping.split_id(node.id)
        if index is not None:  # an element task of a mapped node: its element in place of the whole list
            over = self.ctx.mapped_over(base)
            values = {**values, over: values[over][index]}
        args, kwargs = substitute(node.args, values), substitute(node.kwargs_dict, values)
        streaming = inspect.isgeneratorfunction(fn) and self.travel.release_streaming(task)
        attempt = 0
        while True:
            attempt += 1
            rec.attempts = attempt
            try:  # a core of the host for the body only (``store.cores``): not while waiting, nor between attempts
                waited = cores.acquire(self.ctx.remaining_s(node.id), self._over) if self.bounded else 0.0
            except cores.Stopped:
                raise StopBranch(f"run {self.run_id} is over") from None
            if self.bounded:  # when the body got its core, in the run's time as ``start_s`` (and how long it waited)
                rec.optimizations["body_at_s"] = time.time() - self.ctx.started_at
                if waited:
                    rec.optimizations["core_wait_s"] = rec.optimizations.get("core_wait_s", 0.0) + waited
            t0 = time.perf_counter()
            try:
                try:
                    with Guard(self.run_id, node.id, opts.timeout_s, on_kill=self._killing(node.id)):
                        task.value = fn(*args, **kwargs)
                        if streaming:  # each item published as it is made; the output is the list of them
                            task.value = self.travel.publish(task, task.value, attempt)
                        elif inspect.isgenerator(task.value):
                            task.value = list(task.value)
                finally:
                    cores.release()
                break
            except Cancelled as stop:
                rec.exec_s, rec.status = time.perf_counter() - t0, move(rec.status, TaskStatus.CANCELLED)
                raise StopBranch(stop.reason) from None
            except Duplicated as dup:
                raise SkipTask(dup.reason) from None
            except Exception as exc:  # the user's task failed (TimeLimitExceeded is not an Exception)
                rec.exec_s = time.perf_counter() - t0
                error = f"{type(exc).__name__}: {exc}"
                if attempt <= opts.retries and opts.retries_on(exc):
                    rec.attempt_errors.append({"attempt": attempt, "error": error, "at": time.time()})
                    log.info("run %s: task %s attempt %d failed (%s); retrying", self.run_id, node.id, attempt, error)
                    self._pause(opts.backoff(attempt))
                    continue
                self._fail(task, error, traceback.format_exc())
                return False
            except TimeLimitExceeded as limit:
                rec.exec_s = time.perf_counter() - t0
                self._fail(task, limit.reason, "")
                return False
        rec.exec_s = time.perf_counter() - t0
        try:
            # Its parts, not joined: an array's data is copied once, into the output store, and only
            # if the output travels; one kept in this branch is never copied at all.
            task.data = codec.encode(task.value, where=f"output of {node.id}")
        except codec.CodecError as exc:
            self._fail(task, str(exc), traceback.format_exc())
            return False
        rec.output_bytes = task.data.size
        return True

    def _over(self) -> bool:
        return flags.announced_over(self.run_id)

    def _killing(self, node_id: str):
        run_id = self.run_id

        def record(kind: str, reason: str) -> None:
            dataplane.record_killed(run_id, node_id, kind, reason)

        return record

    def _pause(self, seconds: float) -> None:
        """Wait before a retry, but not past the run's end."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if flags.announced_over(self.run_id):
                raise StopBranch(f"run {self.run_id} is over")
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def stage_decide(self, task: ActiveTask) -> None:
        """The decision stages: does the output travel, how many flexible children run here."""
        if task.is_sink:
            task.upload, task.local_slots = False, 0
            return
        answer = self.hooks.decide("should_upload", self.view, task)
        task.upload = True if answer is None else bool(answer)
        task.local_slots = int(self.hooks.decide("local_children", self.view, task) or 0)

    def stage_upload(self, task: ActiveTask) -> None:
        """Store the output where it must go and record the task done in the counters (one call)."""
        nid, rec = task.node_id, task.record
        self.local[nid] = task.value
        self.encoded[nid] = task.data
        self.sizes[nid] = len(task.data)
        if task.is_sink:  # published for its readers (a big one), then stored durably (workers.results)
            got = results.deliver(self.run_id, nid, task.data, task.value, self.fence)
            rec.upload_s, rec.uploaded = got.available_s, True
            self.overheads["result_durable_s"] = self.overheads.get("result_durable_s", 0.0) + got.durable_s
            task.finished = readiness.finish_task(self.run_id, nid, self.token, [], None, fence=self.fence)
            rec.status = move(rec.status, TaskStatus.SUCCEEDED)
            # the run's end: readers can have the result (the run is finalized once it is durable too)
            dataplane.mark_sink_done(self.run_id, got.available_at, fence=self.fence)
            return
        ctx = self.ctx
        kids = self.travel.children(task)
        if kids is None:
            return
        already = nid in self.uploaded
        output = task.data if task.upload and not already else None
        if output is not None and self.travel.open_stream(task):
            output = None
        # An executor with nothing queued here takes its next task in the same call.
        pop_from = self.executor_mb if self.is_executor and not self.queue else None
        t0 = time.perf_counter()

        def finish(out: bytes | None) -> readiness.Finished:
            return readiness.finish_task(
                self.run_id,
                nid,
                self.token,
                kids,
                out,
                local_slots=task.local_slots,
                pop_from=pop_from,
                streamed=bool(task.stream_chunk),
                fence=self.fence,
            )

        fin = finish(output)
        if fin.upload_first and self.hooks.decide("delay_upload", self.view, task, kids):
            fin = finish(None)  # delayed I/O waited: what became ready meanwhile may run here
        if fin.upload_first:
            # A child will run outside this branch: it needs our output in Redis (or streaming to it).
            output = None if self.travel.open_stream(task) else task.data
            fin = finish(output)
        took = time.perf_counter() - t0
        task.finished = fin
        if not task.stream_chunk:  # done (a streamed output's task is done once its stream is written)
            rec.status = move(rec.status, TaskStatus.SUCCEEDED)
        if fin.popped is not None:
            self.begun.add(fin.popped)
            task.continue_here.append(fin.popped)
        self.retired = fin.retired
        if fin.over:
            self.stopped = True
        if output is not None:
            task.uploaded_now = True
            self.uploaded.add(nid)
            # One round trip carried the output and the counters: it counts as the upload (the counters
            # add a constant sliver), so upload + counters sums to what the task really spent.
            rec.upload_s, rec.uploaded, rec.counter_update_s = took, True, 0.0
        else:
            rec.uploaded, rec.counter_update_s = already, took
            if not already and self.worker is not None:
                # A planned branch may leave this output for a consumer later (``upload_for``), after its
                # own tasks read the value: it keeps the encoded bytes as the task made them.
                self.encoded[nid] = task.data.frozen()
        for kid, outcome in zip(kids, fin.outcomes):
            if outcome == readiness.LOCAL:
                task.continue_here.append(kid.node_id)
                self.awaiting.pop(kid.node_id, None)  # we were its waiter and brought its last input
            elif outcome == readiness.DISPATCH:
                owner = ctx.worker_of(kid.node_id)
                task.dispatch.setdefault((owner, kid.memory_mb), []).append(kid.node_id)
            elif outcome == readiness.WAITING:
                self.awaiting[kid.node_id] = nid

    # --- failure and the end ----------------------------------------------------------

    def _fail(self, task: ActiveTask, error: str, tb: str) -> None:
        fencing.check(self.fence)  # a delivery taken over fails nothing (Fenced stops the branch)
        rec = task.record
        rec.status = move(rec.status, TaskStatus.FAILED)
        if rec.attempt_errors:  # every attempt's error stays visible, the last one in the run's error
            error = f"{error} (after {len(rec.attempt_errors) + 1} attempts: {attempts_text(rec.attempt_errors)})"
        rec.error, rec.traceback = error, tb
        self.hooks.run("task_failed", self.view, task, error)
        dataplane.set_state(self.run_id, rec.node_id, TaskStatus.FAILED)
        dataplane.mark_over(self.run_id, RunStatus.FAILED, fence=self.fence)
        self.failure = TaskFailed(rec.node_id, error, tb)
        log.warning("run %s: task %s failed: %s", self.run_id, rec.node_id, error)

    def _flush(self) -> None:
        """Hand the records of the tasks done so far (between tasks: every one of them is final) to
        the process's writer thread, so the branch that runs the sink has few left to write after it."""
        batch = [r.as_dict() for r in self.records[self.flushed :]]
        self.flushed = len(self.records)
        run_id, started, attempts, overheads = self.run_id, self.ctx.started_at, self.delivery, self.overheads
        fence = self.fence

        def write() -> None:
            if not fencing.current(fence):
                return  # taken over: the new delivery records these tasks
            t0 = time.perf_counter()
            ledger.record_tasks(run_id, started, batch, attempts=attempts)
            overheads["record_s"] += time.perf_counter() - t0

        recorder().submit(write)

    def record(self, cpu_start: float) -> None:
        """Write this branch's remaining metrics in bulk and report a failure."""
        self.startup.ended_at = time.time()
        self.startup.cpu_s = time.process_time() - cpu_start
        self.startup.tasks = len(self.records)
        self.startup.enforced = self.limits.enforced
        if not fencing.current(self.fence):  # taken over: the new delivery's records and outcome stand
            log.warning(
                "run %s: branch %s delivery %s was taken over; recording nothing",
                self.run_id,
                self.token,
                self.delivery,
            )
            self.failure = None
            return
        t0 = time.perf_counter()
        try:
            recorder().drain()  # earlier batches first: a failed one fails the branch here
            records = [r.as_dict() for r in self.records[self.flushed :]]
            retrying(
                lambda: ledger.record_branch(
                    self.run_id, self.ctx.started_at, records, self.startup.as_dict(), attempts=self.delivery
                ),
                "recording the branch",
            )
            self.overheads["record_s"] += time.perf_counter() - t0
        except Exception as exc:  # metrics lost must not hang the run: fail it, loudly
            log.exception("run %s: could not record branch %s", self.run_id, self.token)
            self.failure = self.failure or TaskFailed(
                self.entries[0] if self.entries else "",
                f"internal error recording metrics: {type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )
        if self.failure:
            failure = self.failure
            retrying(
                lambda: ledger.fail_run(
                    self.run_id, error=failure.error, traceback=failure.tb, node_id=failure.node_id
                ),
                "failing the run",
            )


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


def executor_name(token: str) -> str:
    """An executor's worker id in records: ``x:<memory>-<origin>-<k>`` from its token (a flexible branch
    sent with its entries, e.g. a generator's streaming consumer: ``x:f-<digest>``)."""
    return "x:" + (token.partition("-x")[2] or token.partition("-")[2])


def end_branch(
    run_id: int,
    token: str,
    lease_holder: str = "",
    executor_of: int | None = None,
    overheads: dict[str, float] | None = None,
    fence: fencing.Fence | None = None,
) -> None:
    """Leave the run's live set (releasing the branch's lease); the last branch out finalizes the run.
    A delivery that was taken over (``fence``) leaves the branch to the new one."""
    try:
        last = dataplane.branch_end(run_id, token, lease_holder, executor_of, overheads, fence=fence)
    except fencing.Fenced:
        log.warning("run %s: branch %s was taken over; leaving it to the new delivery", run_id, token)
        return
    if last:
        retrying(lambda: ledger.finalize_run(run_id), f"finalizing run {run_id}")
