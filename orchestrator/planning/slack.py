"""Fast what-if checks for changing one worker's configuration.

The point timeline's waits (``Timeline.waits``: inputs, the task before in the
same branch, each branch's start-up after its dispatch trigger's inputs, the
process it waits for and the spawn it queues behind, PreLoad's downloads) are
constraints ``done(p) + lag ≤ begin(x)`` over tasks and branches, a branch's
"run time" being its start-up. Earliest ends (forward) and latest ends
against a deadline (backward) over these constraints tell whether slower
tasks on one worker still let the run end by the deadline — without
re-simulating the whole DAG. Accepted changes are propagated incrementally
(only nodes whose times move are revisited), so screening every worker of a
10,000-task DAG stays cheap.

Screening is optimistic about pool effects (a worker moved to another
configuration no longer waits for its old pool's process or spawn queue); the
planner re-simulates and re-checks with Monte Carlo afterwards.
"""

from __future__ import annotations

import heapq
from typing import Callable, Iterable

from orchestrator.planning.dag import Dag
from orchestrator.planning.timing import Timeline
from orchestrator.planning.waits import ON_BRANCH, POOLED, PRELOAD

EPS = 1e-9


class Slack:
    """Nodes are the tasks (0 … n-1) and the timeline's branches (n + b): a node's duration is a
    task's run time or a branch's start-up, and others wait for its *done* (end + post; a branch's
    end is its start-up's). ``run_time``: per task, from its work's begin (its waits, PreLoad's
    downloads included, are over) to its end; with the timeline's own durations (``end - begin``),
    the forward pass gives back the timeline's times."""

    def __init__(
        self,
        dag: Dag,
        tl: Timeline,
        *,
        worker: list[int],
        run_time: list[float],
        post: list[float],
        branch_startup: list[float],
        deadline: float,
    ):
        n = dag.n
        self.dag, self.worker, self.deadline, self.n = dag, worker, deadline, n
        self.rt = list(run_time) + list(branch_startup)  # per node: from its work's begin to its end
        self.post = list(post) + [0.0] * len(tl.branches)
        self.owner = list(worker) + [br.worker for br in tl.branches]
        self.branch_of = tl.branch_of
        self.order = [i if not is_branch else n + i for is_branch, i in tl.waits.nodes(tl.order)]
        self.pos = [0] * len(self.rt)
        for k, x in enumerate(self.order):
            self.pos[x] = k
        # pred[x]: (p, lag, kind) — done(p) (0 when p < 0) + lag ≤ begin(x); succ[p] the other way round.
        self.pred: list[list[tuple[int, float, str]]] = [[] for _ in self.rt]
        self.succ: list[list[tuple[int, float, str]]] = [[] for _ in self.rt]
        for x in range(len(self.rt)):
            pred = self.pred[x]
            for kind, on, lag in tl.waits.task(x) if x < n else tl.waits.branch[x - n]:
                p = on if on < 0 or kind not in ON_BRANCH else n + on
                pred.append((p, lag, kind))
                if p >= 0:
                    self.succ[p].append((x, lag, kind))
        self.first_in_branch = [tl.prev_in_branch[i] < 0 for i in range(n)]
        self.tasks_of: dict[int, list[int]] = {}
        self.nodes_of: dict[int, list[int]] = {}
        for x in self.order:
            self.nodes_of.setdefault(self.owner[x], []).append(x)
            if x < n:
                self.tasks_of.setdefault(worker[x], []).append(x)
        self.start = [0.0] * len(self.rt)  # a task's start: its waits but PreLoad's are over
        self.end = [0.0] * len(self.rt)
        for x in self.order:
            self._forward_one(x)
        self.latest = [0.0] * len(self.rt)  # latest end
        for x in reversed(self.order):
            self._backward_one(x)

    # --- passes -----------------------------------------------------------------------

    def _done(self, p: int) -> float:
        return self.end[p] + self.post[p] if p >= 0 else 0.0

    def _forward_one(self, x: int) -> bool:
        s = b = 0.0
        for p, lag, kind in self.pred[x]:
            v = self._done(p) + lag
            if v > b:
                b = v
            if v > s and kind != PRELOAD:
                s = v
        e = b + self.rt[x]
        changed = abs(e - self.end[x]) > EPS or abs(s - self.start[x]) > EPS
        self.start[x], self.end[x] = s, e
        return changed

    def _latest_done(self, x: int, skip_worker: int = -1) -> float:
        best = self.deadline + self.post[x] if x == self.dag.sink else float("inf")
        for s, lag, _ in self.succ[x]:
            if skip_worker >= 0 and self.owner[s] == skip_worker:
                continue
            v = self.latest[s] - self.rt[s] - lag
            if v < best:
                best = v
        return best

    def _backward_one(self, x: int) -> bool:
        v = self._latest_done(x) - self.post[x]
        changed = abs(v - self.latest[x]) > EPS
        self.latest[x] = v
        return changed

    # --- what if ---------------------------------------------------------------------------

    def try_worker(
        self, w: int, run_time: Callable[[int], float], post: Callable[[int], float], startup: Callable[[int], float]
    ) -> tuple[bool, dict]:
        """Would worker ``w`` with these durations (per task; ``startup`` per branch) still meet the
        deadline? Returns (ok, proposal)."""
        n = self.n
        mine = self.tasks_of[w]
        members = set(self.nodes_of[w])
        new_end: dict[int, float] = {}
        new_start: dict[int, float] = {}
        new_begin: dict[int, float] = {}
        new_post = {i: post(i) for i in mine}
        new_st: dict[int, float] = {}
        for x in self.nodes_of[w]:
            s = b = 0.0
            for p, lag, kind in self.pred[x]:
                if kind in POOLED:
                    continue  # another configuration's pool: its hand-over and spawn queue no longer apply
                if p in members:
                    v = new_end[p] + (new_post[p] if p < n else 0.0)
                else:
                    v = self._done(p)
                v += lag
                if v > b:
                    b = v
                if v > s and kind != PRELOAD:
                    s = v
            if x >= n:
                new_st[x - n] = startup(x - n)
                new_end[x] = b + new_st[x - n]
                continue
            e = b + run_time(x)
            if e + new_post[x] > self._latest_done(x, skip_worker=w) + EPS:
                return False, {}
            new_start[x], new_begin[x], new_end[x] = s, b, e
        # Consumers on other workers that already hold a process wait longer: that time is billed too.
        spill: dict[int, float] = {}
        for i in mine:
            arrival = new_end[i] + new_post[i]
            for c in self.dag.downs[i]:
                if c not in members and not self.first_in_branch[c] and arrival > self.start[c] + EPS:
                    spill[c] = max(spill.get(c, 0.0), arrival - self.start[c])
        return True, {
            "start": new_start,
            "end": {i: new_end[i] for i in mine},
            "post": new_post,
            "st": new_st,
            "rt": {i: new_end[i] - new_begin[i] for i in mine},
            "spill": spill,
        }

    def commit(self, w: int, proposal: dict) -> None:
        n = self.n
        for x in self.nodes_of[w]:
            if x < n:
                self.rt[x] = proposal["rt"][x]
                self.post[x] = proposal["post"][x]
            else:
                self.rt[x] = proposal["st"][x - n]
            # The old pool's process hand-over and spawn queue no longer bind this worker.
            for p, _, kind in self.pred[x]:
                if kind in POOLED and p >= 0:
                    self.succ[p] = [c for c in self.succ[p] if c[0] != x or c[2] not in POOLED]
            self.pred[x] = [c for c in self.pred[x] if c[2] not in POOLED]
        self._relax_forward(self.nodes_of[w])
        self._relax_backward(self.nodes_of[w])

    def _relax_forward(self, seeds: list[int]) -> None:
        self._relax(seeds, 1, self._forward_one, lambda i: (s for s, _, _ in self.succ[i]))

    def _relax_backward(self, seeds: list[int]) -> None:
        self._relax(seeds, -1, self._backward_one, lambda i: (p for p, _, _ in self.pred[i] if p >= 0))

    def _relax(
        self,
        seeds: list[int],
        direction: int,
        update: Callable[[int], bool],
        neighbours: Callable[[int], Iterable[int]],
    ) -> None:
        """Propagate from ``seeds`` in topological order (``direction`` 1) or its reverse (-1):
        a task's neighbours are revisited when its times changed, and always for the seeds."""
        heap = [(direction * self.pos[i], i) for i in seeds]
        heapq.heapify(heap)
        seen: set[int] = set()
        forced = set(seeds)
        while heap:
            _, i = heapq.heappop(heap)
            if i in seen:
                continue
            seen.add(i)
            if update(i) or i in forced:
                for j in neighbours(i):
                    if j not in seen:
                        heapq.heappush(heap, (direction * self.pos[j], j))

    # --- reading -----------------------------------------------------------------------------

    def makespan(self) -> float:
        return self.end[self.dag.sink]

    def worker_active(self, w: int, proposal: dict | None = None) -> float:
        """Busy span of ``w``'s tasks (first start to last done), current or proposed."""
        mine = self.tasks_of[w]
        first, last = mine[0], mine[-1]
        if proposal is None:
            return self.end[last] + self.post[last] - self.start[first]
        return proposal["end"][last] + proposal["post"][last] - proposal["start"][first]
