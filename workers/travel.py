"""Where a finished task's output and children go: the travel half of a branch.

``BranchRun`` (``workers.runtime``) runs each task through its stages and owns
one ``OutputTravel`` (``branch.travel``) for what happens once the output
exists and has to reach consumers outside the branch:

* ``stage_dispatch`` (and ``_send``) — branches of other logical workers that
  became ready (registered, made live, handed to a pre-warmed process where a
  hook says so) and the executors the counters' call launched;
* output streaming (``open_stream``, ``stage_stream``) — the stages where a hook
  (``optimizations.streaming.runtime``) opens a big output's stream and writes
  it in chunks after its consumers are released (``store.streams``);
* generator tasks (``release_streaming``, ``publish``, ``streams_items``,
  ``items_of``) — items published as they are made to consumers declared
  streaming, which are dispatched as the generator starts;
* a planned waiter's give-up (``upload_for``) — the inputs it holds are left
  in Redis for whoever completes the rest;
* dynamic fan-outs (``children``, ``gather``) — a mapped node over this
  task's output expands into its element tasks; the mapped node's own turn
  collects their outputs in order.

It never sees the branch itself: its constructor takes everything it uses —
the run's context, who the branch is (token, logical worker, delivery and its
fence), the branch's hooks and their view, the outputs the branch holds (shared
with it, which fills them), its task records, and ``fail``, the branch's way to
fail a task.
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from django.conf import settings

from orchestrator.core import codec, mapping
from store import dataplane, flags, pools, readiness, streams
from workers import canvas, lineage, transport
from workers.hooks import OutputFailed

if TYPE_CHECKING:
    from store.fencing import Fence
    from store.records import TaskRecord
    from workers.context import RunContext
    from workers.hooks import HookChain
    from workers.view import ActiveTask, BranchView

    Fail = Callable[[ActiveTask, str, str], None]  # (task, error, traceback): the task fails, the run with it


class OutputTravel:
    """One branch's outputs and children on their way out of it (owned by its ``BranchRun``)."""

    def __init__(
        self,
        ctx: "RunContext",
        *,
        token: str,
        worker: str | None,
        delivery: int,
        fence: "Fence | None",
        hooks: "HookChain",
        view: "BranchView",
        local: dict[str, Any],
        encoded: dict[str, codec.Encoded],
        sizes: dict[str, int],
        uploaded: set[str],
        records: "list[TaskRecord]",
        fail: "Fail",
    ):
        self.ctx = ctx
        self.run_id = ctx.run_id
        self.token = token
        self.worker = worker  # its logical worker; None: a flexible branch
        self.delivery = delivery
        self.fence = fence  # a recomputed input (``workers.lineage``) is stored fenced
        self.hooks = hooks
        self.view = view  # what the hooks get
        # The branch's, shared: outputs kept in its process, their encoded form, those stored already.
        self.local = local
        self.encoded = encoded
        self.sizes = sizes
        self.uploaded = uploaded
        self.records = records  # the branch's task records: an upload left behind is noted on its task's
        self._fail = fail

    def open_stream(self, task: "ActiveTask") -> bool:
        """Whether a hook streams the output (``stream_output``; it opened the stream): the counters'
        call then releases the consumers, and ``stage_stream`` has the chunks written after dispatch."""
        task.stream_chunk = int(self.hooks.decide("stream_output", self.view, task) or 0)
        return bool(task.stream_chunk)

    def _attempt(self) -> str:
        return f"{self.token}:{self.delivery}"

    def stage_stream(self, task: "ActiveTask") -> None:
        """A streamed output's chunks, written by the hook that streams it (``write_stream``); the task
        fails when that hook can neither stream nor store the output."""
        try:
            stored = self.hooks.decide("write_stream", self.view, task)
        except OutputFailed as exc:
            self._fail(task, str(exc), exc.tb)
            return
        if stored:
            self.uploaded.add(task.node_id)

    # --- generator tasks: items streamed to consumers declared streaming ------------------------

    def streams_items(self, up: str) -> bool:
        """Whether ``up`` is a generator task, whose items a streaming consumer iterates."""
        return inspect.isgeneratorfunction(self.ctx.function(up))

    def items_of(self, up: str) -> Iterator[Any]:
        """The items of generator task ``up``, for a consumer that iterates them as they come."""
        if up in self.local:  # it ran in this branch, before: its items are all here
            return iter(self.local[up])
        return streams.items(self.run_id, up, stopped=lambda: flags.announced_over(self.run_id))

    def release_streaming(self, task: "ActiveTask") -> bool:
        """As a generator task starts: open its item stream and dispatch its streaming consumers that
        are ready with it, so they run while it does. False when it has none."""
        ctx, nid = self.ctx, task.node_id
        kids = [c for c in ctx.children(nid) if ctx.task_options(c).streaming]
        if not kids:
            return False
        streams.open_stream(self.run_id, nid, f"{self._attempt()}:1", 0, 0, kind=streams.ITEMS)
        children = [readiness.Child(c, ctx.inputs_of(c), self._mode(c), ctx.memory_of(c)) for c in kids]
        groups: dict[tuple, list[str]] = {}
        for kid, outcome in zip(kids, readiness.release(self.run_id, nid, self.token, children)):
            if outcome == readiness.DISPATCH:
                groups.setdefault((ctx.worker_of(kid), ctx.memory_of(kid)), []).append(kid)
        if groups:
            self._send(task, groups, [])
        task.record.optimizations["streamed_to"] = kids
        return True

    def publish(self, task: "ActiveTask", generator: Iterable[Any], attempt: int) -> list[Any]:
        """Run the generator's items out, each published as it is made (attempt ``attempt``); returns them."""
        attempt_id = f"{self._attempt()}:{attempt}"
        if attempt > 1:  # a retry: a new attempt, which readers restart on (or refuse, if they read some)
            streams.open_stream(self.run_id, task.node_id, attempt_id, 0, 0, kind=streams.ITEMS)
        out = streams.publish(self.run_id, task.node_id, attempt_id, generator)
        task.record.optimizations["streamed_items"] = len(out)
        return out

    def stage_dispatch(self, task: "ActiveTask") -> None:
        """Send the branches of other logical workers that became ready, and the executors the
        counters' call launched (already registered as live by it)."""
        t1 = time.perf_counter()
        sent = self._send(task, task.dispatch, task.finished.executors)
        task.record.dispatch_s = time.perf_counter() - t1
        task.record.invocations = sent

    def _send(self, task: "ActiveTask", dispatch: dict[tuple, list[str]], executors: list[tuple[str, int, str]]) -> int:
        """Branches of ``(worker, memory) → children`` (registered, made live, handed off where a
        hook says so) and ``executors``; returns the messages sent."""
        ctx = self.ctx
        homes = (task.finished.homes if task.finished is not None else None) or {}
        sigs = []
        for (owner, memory_mb), children in dispatch.items():
            annotations = {c: ctx.annotations_of(c) for c in children if ctx.annotations_of(c)}
            # To the host holding its entries' biggest inputs, when some are in a host's shared memory
            # and a worker of its configuration runs there (else any host takes it, and fetches them).
            home = next((homes[c] for c in children if c in homes), "")
            home = home if home and pools.serves(home, memory_mb) else ""
            sigs.append(
                canvas.branch_signature(
                    self.run_id, children, worker=owner, memory_mb=memory_mb, annotations=annotations, host=home
                )
            )
        held: dict[str, float] = {}  # token → seconds its message waits: a process took the branch already
        if sigs:
            dataplane.register_branches(
                self.run_id,
                {
                    sig.options["task_id"]: {"e": children, "w": owner, "m": memory_mb}
                    for sig, ((owner, memory_mb), children) in zip(sigs, dispatch.items())
                },
            )
            dataplane.add_live(self.run_id, [sig.options["task_id"] for sig in sigs])
            for sig, ((owner, memory_mb), children) in zip(sigs, dispatch.items()):
                delay = self.hooks.decide(
                    "hand_off", self.view, task, sig.options["task_id"], children, owner, memory_mb
                )
                if delay:
                    held[sig.options["task_id"]] = float(delay)
        # An executor launched for tasks whose inputs are on one host goes to that host's queue, if a
        # worker of its configuration runs there; else any host's takes it (and steals them).
        sigs.extend(
            canvas.executor_signature(
                self.run_id, token, memory_mb, host if host and pools.serves(host, memory_mb) else ""
            )
            for token, memory_mb, host in executors
        )
        transport.send(sigs, held)
        if dispatch:
            readiness.mark_dispatched(self.run_id, [c for cs in dispatch.values() for c in cs], self.token)
        return len(sigs)

    def _mode(self, child: str) -> str:
        owner = self.ctx.worker_of(child)
        if owner is None:
            return readiness.FLEX
        if self.worker is not None and owner == self.worker:
            return readiness.OWN_NEW if self.ctx.new_branch(child) else readiness.OWN
        return readiness.OTHER

    def upload_for(self, child: str) -> None:
        for up in self.ctx.node(child).upstream:
            if up in self.encoded and up not in self.uploaded:
                t0 = time.perf_counter()
                dataplane.put_output(self.run_id, up, self.encoded[up])
                self.uploaded.add(up)
                rec = next((r for r in self.records if r.node_id == up), None)
                if rec is not None:
                    rec.upload_s, rec.uploaded = time.perf_counter() - t0, True

    # --- dynamic fan-outs (``orchestrator.core.mapping``) ------------------------------------------

    def children(self, task: "ActiveTask") -> list[readiness.Child] | None:
        """The children the counters' call counts this task for: a mapped node over this task's output is
        expanded into its element tasks here (its width stored first; None: the output cannot be mapped)."""
        ctx, out = self.ctx, []
        for c in ctx.children(task.node_id):
            if ctx.mapped_over(c) != task.node_id:
                out.append(readiness.Child(c, ctx.inputs_of(c), self._mode(c), ctx.memory_of(c)))
                continue
            error = mapping.width_error(c, task.node_id, task.value, int(settings.SLAFLOW_MAP_MAX_WIDTH))
            if error:
                self._fail(task, error, "")
                return None
            width = len(task.value)
            error = mapping.budget_error(c, len(ctx.graph), dataplane.set_width(self.run_id, c, width), ctx.max_tasks)
            if error:
                self._fail(task, error, "")
                return None
            ctx.widths[c] = width
            task.record.optimizations.setdefault("mapped", {})[c] = width
            if width == 0:  # nothing to run: the gather is ready with this task
                out.append(readiness.Child(c, 0, self._mode(c), ctx.memory_of(c)))
            out.extend(
                readiness.Child(mapping.element_id(c, i), 1, readiness.FLEX, ctx.memory_of(c)) for i in range(width)
            )
        return out

    def gather(self, task: "ActiveTask") -> bool:
        """A mapped node's own turn: the list of its element tasks' outputs, in order."""
        nid, rec = task.node_id, task.record
        ids = [mapping.element_id(nid, i) for i in range(self.ctx.width(nid))]
        remote = [e for e in ids if e not in self.local]
        td = time.perf_counter()
        got = dict(zip(remote, lineage.get_outputs(self, remote)))  # an element's output lost with its host: recomputed
        missing = [e for e, g in got.items() if g is None]
        if missing:
            self._fail(task, f"run {self.run_id}: output(s) of {', '.join(missing[:3])} not stored", "")
            return False
        values = []
        for e in ids:
            g = got.get(e)
            values.append(self.local[e] if g is None else g.load())
            size = g.size if g is not None else self.sizes.get(e, 0)
            rec.inputs.append({"node": e, "bytes": size, "download_s": 0.0, "local": g is None})
            rec.input_bytes += size
        rec.download_s = time.perf_counter() - td
        self.hooks.run("after_inputs", self.view, task)
        task.value, rec.exec_s = values, 0.0
        task.data = codec.encode(values, where=f"output of {nid}")
        rec.output_bytes = task.data.size
        rec.optimizations["map_width"] = len(ids)
        return True
