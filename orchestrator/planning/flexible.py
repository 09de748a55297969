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

DEFAULT_EXECUTORS = 8  # when the pools are unbounded (FaaS): what a run of this size would get at once


def place(dag: Dag, *, run_time: list[float], output_bytes: list[int], executors: int,
          cluster_min_bytes: int | None = None, max_fanout: int = 1, delay_s: float = 0.0) -> list[int]:
    """The executor (0, 1, …) each task runs on. ``run_time``: per task, its duration and post-task
    overhead; ``cluster_min_bytes`` None: no clustering (plain WUKONG keeps one child); ``delay_s``:
    delayed I/O — a big output's executor waits that long for its children that are not ready yet (their
    other inputs still running) and runs those that become ready in time itself."""
    if executors < 1:
        raise ValueError(f"a flexible run needs at least one executor, got {executors}")
    n = dag.n
    waiting = [len(dag.ups[i]) for i in range(n)]
    where = [-1] * n
    queue: deque[int] = deque(dag.roots())
    own: list[deque[int]] = []  # per executor: the children it kept, to run next
    idle: list[int] = []  # executors with nothing to run (popped again first: lowest index)
    events: list[tuple[float, int, int, int]] = []  # (time, kind, executor, task): a task's end, or a wait's
    held: dict[int, set[int]] = {}  # executor → the children its delayed upload still waits for
    waited_by: dict[int, int] = {}  # child → the executor waiting for it
    END, DELAY_OVER = 0, 1

    def start(e: int, t: float) -> bool:
        nxt = own[e].popleft() if own[e] else (queue.popleft() if queue else None)
        if nxt is None:
            return False
        where[nxt] = e
        heapq.heappush(events, (t + run_time[nxt], END, e, nxt))
        return True

    def resume(e: int, t: float) -> None:
        if not start(e, t):
            heapq.heappush(idle, e)

    def wake(t: float) -> None:
        while queue and (idle or len(own) < executors):
            if idle:
                e = heapq.heappop(idle)
            else:
                own.append(deque())
                e = len(own) - 1
            start(e, t)

    wake(0.0)
    while events:
        t, kind, e, i = heapq.heappop(events)
        if kind == DELAY_OVER:
            if e in held:  # still waiting: give up, upload, go on with what it kept
                for c in held.pop(e):
                    waited_by.pop(c, None)
                resume(e, t)
                wake(t)
            continue
        ready, pending = [], []
        for c in dag.downs[i]:
            waiting[c] -= 1
            (ready if waiting[c] == 0 else pending).append(c)
        big = cluster_min_bytes is not None and output_bytes[i] >= cluster_min_bytes
        slots = max(1, min(len(dag.downs[i]), max_fanout)) if big else 1
        for c in ready:
            if c in waited_by:  # a delayed upload waits for it: it runs there
                w = waited_by.pop(c)
                held[w].discard(c)
                own[w].append(c)
                if not held[w]:
                    del held[w]
                    resume(w, t)
                ready = [r for r in ready if r != c]
        own[e].extend(ready[:slots])
        queue.extend(ready[slots:])
        free = [c for c in pending if c not in waited_by]
        if big and delay_s > 0 and free and len(dag.downs[i]) <= slots:
            held[e] = set(free)
            waited_by.update({c: e for c in free})
            heapq.heappush(events, (t + delay_s, DELAY_OVER, e, -1))
        else:
            resume(e, t)
        wake(t)
    missing = [dag.ids[i] for i in range(n) if where[i] < 0]
    if missing:
        raise ValueError(f"tasks never became ready: {', '.join(missing[:3])}")
    return where
