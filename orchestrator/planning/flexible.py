"""Where a WUKONG run puts each task: its executors, simulated with point durations.

A flexible run has no logical workers: executors pop ready tasks, and the one
that finishes a task continues with one ready child (``store.readiness``) —
with task clustering (``optimizations.clustering``), with up to ``max_fanout``
of them when the output is at least ``cluster_min_bytes``. To predict such a
run, ``place`` replays those rules in time order — at most ``executors`` of
them at once, a ready task queued for the next free one (first come, first
served), a big output's executor waiting (delayed I/O) for children whose
other inputs are still running — and returns the executor of every task. The planner then evaluates
that placement like any other (``evaluate.Planning``): executors as logical
workers, inputs from another executor downloaded, outputs whose children all
ran beside them never uploaded. So ``wukong-opt`` promises with the same
timing model, Monte Carlo and calibration as the predictive planners, and a
past flexible run is replayed from the placement its plan recorded.
"""

from __future__ import annotations

import heapq
from collections import deque

from orchestrator.planning.dag import Dag
from orchestrator.planning.waits import Readiness

DEFAULT_EXECUTORS = 8  # when the pools are unbounded (FaaS): what a run of this size would get at once


def place(
    dag: Dag,
    *,
    run_time: list[float],
    output_bytes: list[int],
    executors: int,
    cluster_min_bytes: int | None = None,
    max_fanout: int = 1,
    delay_s: float = 0.0,
) -> list[int]:
    """The executor (0, 1, …) each task runs on. ``run_time``: per task, its duration and post-task
    overhead; ``cluster_min_bytes`` None: no clustering (plain WUKONG keeps one child); ``delay_s``:
    delayed I/O — a big output's executor waits that long for its children that are not ready yet (their
    other inputs still running) and runs those that become ready in time itself."""
    if executors < 1:
        raise ValueError(f"a flexible run needs at least one executor, got {executors}")
    return Placement(dag, run_time, output_bytes, executors, cluster_min_bytes, max_fanout, delay_s).run()


class Placement:
    """The executors of one flexible run, replayed in time order (see the module)."""

    END, DELAY_OVER = 0, 1  # events: a task's end, or a delayed upload's wait running out

    def __init__(
        self,
        dag: Dag,
        run_time: list[float],
        output_bytes: list[int],
        executors: int,
        cluster_min_bytes: int | None,
        max_fanout: int,
        delay_s: float,
    ):
        self.dag, self.run_time, self.output_bytes, self.executors = dag, run_time, output_bytes, executors
        self.cluster_min_bytes, self.max_fanout, self.delay_s = cluster_min_bytes, max_fanout, delay_s
        self.readiness = Readiness(dag)
        self.where = [-1] * dag.n
        self.queue: deque[int] = deque(dag.roots())  # ready tasks no executor kept, first come first served
        self.own: list[deque[int]] = []  # per executor: the children it kept, to run next
        self.idle: list[int] = []  # executors with nothing to run (popped again first: lowest index)
        self.events: list[tuple[float, int, int, int]] = []  # (time, kind, executor, task)
        self.held: dict[int, set[int]] = {}  # executor → the children its delayed upload still waits for
        self.waited_by: dict[int, int] = {}  # child → the executor waiting for it

    def run(self) -> list[int]:
        self._wake(0.0)
        while self.events:
            t, kind, e, i = heapq.heappop(self.events)
            if kind == self.DELAY_OVER:
                self._delay_over(e, t)
            else:
                self._end(e, i, t)
        missing = [self.dag.ids[i] for i in range(self.dag.n) if self.where[i] < 0]
        if missing:
            raise ValueError(f"tasks never became ready: {', '.join(missing[:3])}")
        return self.where

    def _start(self, e: int, t: float) -> bool:
        """Executor ``e`` starts what it kept, else the next queued task; False: nothing to run."""
        own = self.own[e]
        nxt = own.popleft() if own else (self.queue.popleft() if self.queue else None)
        if nxt is None:
            return False
        self.where[nxt] = e
        heapq.heappush(self.events, (t + self.run_time[nxt], self.END, e, nxt))
        return True

    def _resume(self, e: int, t: float) -> None:
        if not self._start(e, t):
            heapq.heappush(self.idle, e)

    def _wake(self, t: float) -> None:
        """Queued tasks go to idle executors, then to new ones while there is room."""
        while self.queue and (self.idle or len(self.own) < self.executors):
            if self.idle:
                e = heapq.heappop(self.idle)
            else:
                self.own.append(deque())
                e = len(self.own) - 1
            self._start(e, t)

    def _delay_over(self, e: int, t: float) -> None:
        if e in self.held:  # still waiting: give up, upload, go on with what it kept
            for c in self.held.pop(e):
                self.waited_by.pop(c, None)
            self._resume(e, t)
            self._wake(t)

    def _end(self, e: int, i: int, t: float) -> None:
        """Executor ``e`` finished task ``i``: it keeps ready children (one, or up to ``max_fanout`` of
        a big output's), queues the rest, and with delayed I/O waits for the children not ready yet."""
        ready, pending = self.readiness.done(i)
        downs = self.dag.downs[i]
        big = self.cluster_min_bytes is not None and self.output_bytes[i] >= self.cluster_min_bytes
        slots = max(1, min(len(downs), self.max_fanout)) if big else 1
        ready = [c for c in ready if not self._claimed(c, t)]
        self.own[e].extend(ready[:slots])
        self.queue.extend(ready[slots:])
        free = [c for c in pending if c not in self.waited_by]
        if big and self.delay_s > 0 and free and len(downs) <= slots:
            self.held[e] = set(free)
            self.waited_by.update({c: e for c in free})
            heapq.heappush(self.events, (t + self.delay_s, self.DELAY_OVER, e, -1))
        else:
            self._resume(e, t)
        self._wake(t)

    def _claimed(self, c: int, t: float) -> bool:
        """A ready child a delayed upload waits for runs on that executor; True when so."""
        w = self.waited_by.pop(c, None)
        if w is None:
            return False
        self.held[w].discard(c)
        self.own[w].append(c)
        if not self.held[w]:
            del self.held[w]
            self._resume(w, t)
        return True
