"""Fast what-if checks for changing one worker's configuration.

The point timeline is a set of constraints ``done(p) + extra ≤ start(i)``:
inputs, the task before in the same branch, and for a branch's first task its
dispatch trigger's inputs and the process it waits for, with the branch's
start-up as ``extra``. Earliest ends (forward) and latest ends against a
deadline (backward) over these constraints tell whether slower tasks on one
worker still let the run end by the deadline — without re-simulating the
whole DAG. Accepted changes are propagated incrementally (only tasks whose
times move are revisited), so screening every worker of a 10,000-task DAG
stays cheap.

Screening is optimistic about pool effects (a worker moved to another
configuration no longer waits for its old pool's process); the planner
re-simulates and re-checks with Monte Carlo afterwards.
"""
from __future__ import annotations

import heapq
from typing import Callable

from orchestrator.planning.dag import Dag
from orchestrator.planning.timing import Timeline

EPS = 1e-9


class Slack:
    def __init__(self, dag: Dag, tl: Timeline, *, worker: list[int], run_time: list[float], post: list[float],
                 branch_startup: list[float], deadline: float):
        n = dag.n
        self.dag, self.worker, self.deadline = dag, worker, deadline
        self.rt, self.post = list(run_time), list(post)
        self.st = list(branch_startup)
        self.branch_of = tl.branch_of
        self.pos = [0] * n
        for k, i in enumerate(tl.order):
            self.pos[i] = k
        self.order = tl.order
        # pred[i]: (p, b, after) — done(p) (0 when p < 0) + startup of branch b (when b ≥ 0) ≤ start(i)
        self.pred: list[list[tuple[int, int, bool]]] = [[] for _ in range(n)]
        self.succ: list[list[tuple[int, int, bool]]] = [[] for _ in range(n)]
        for i in range(n):
            cons = [(u, -1, False) for u in dag.ups[i]]
            prev = tl.prev_in_branch[i]
            if prev >= 0:
                cons.append((prev, -1, False))
            else:
                b = tl.branch_of[i]
                br = tl.branches[b]
                trig_ups = dag.ups[br.trigger]
                cons.extend((u, b, False) for u in trig_ups) if trig_ups else cons.append((-1, b, False))
                if br.after >= 0:
                    cons.append((tl.branches[br.after].last, b, True))
            self.pred[i] = cons
            for p, b, after in cons:
                if p >= 0:
                    self.succ[p].append((i, b, after))
        self.first_in_branch = [tl.prev_in_branch[i] < 0 for i in range(n)]
        self.tasks_of: dict[int, list[int]] = {}
        for i in tl.order:
            self.tasks_of.setdefault(worker[i], []).append(i)
        self.start = [0.0] * n
        self.end = [0.0] * n
        for i in tl.order:
            self._forward_one(i)
        self.latest = [0.0] * n  # latest end
        for i in reversed(tl.order):
            self._backward_one(i)

    # --- passes -----------------------------------------------------------------------

    def _forward_one(self, i: int) -> bool:
        s = 0.0
        for p, b, _ in self.pred[i]:
            v = (self.end[p] + self.post[p] if p >= 0 else 0.0) + (self.st[b] if b >= 0 else 0.0)
            if v > s:
                s = v
        e = s + self.rt[i]
        changed = abs(e - self.end[i]) > EPS or abs(s - self.start[i]) > EPS
        self.start[i], self.end[i] = s, e
        return changed

    def _latest_done(self, i: int, skip_worker: int = -1) -> float:
        best = self.deadline + self.post[i] if i == self.dag.sink else float("inf")
        for s, b, _ in self.succ[i]:
            if skip_worker >= 0 and self.worker[s] == skip_worker:
                continue
            v = self.latest[s] - self.rt[s] - (self.st[b] if b >= 0 else 0.0)
            if v < best:
                best = v
        return best

    def _backward_one(self, i: int) -> bool:
        v = self._latest_done(i) - self.post[i]
        changed = abs(v - self.latest[i]) > EPS
        self.latest[i] = v
        return changed

    # --- what if ---------------------------------------------------------------------------

    def try_worker(self, w: int, run_time: Callable[[int], float], post: Callable[[int], float],
                   startup: Callable[[int], float]) -> tuple[bool, dict]:
        """Would worker ``w`` with these durations still meet the deadline? Returns (ok, proposal)."""
        mine = self.tasks_of[w]
        members = set(mine)
        new_end: dict[int, float] = {}
        new_start: dict[int, float] = {}
        new_post = {i: post(i) for i in mine}
        new_st: dict[int, float] = {}
        for i in mine:
            s = 0.0
            for p, b, after in self.pred[i]:
                if after:
                    continue  # another configuration's pool: its process hand-over no longer applies
                if p < 0:
                    v = 0.0
                elif p in members:
                    v = new_end[p] + new_post[p]
                else:
                    v = self.end[p] + self.post[p]
                if b >= 0:
                    if b not in new_st:
                        new_st[b] = startup(b)
                    v += new_st[b]
                if v > s:
                    s = v
            e = s + run_time(i)
            if e + new_post[i] > self._latest_done(i, skip_worker=w) + EPS:
                return False, {}
            new_start[i], new_end[i] = s, e
        # Consumers on other workers that already hold a process wait longer: that time is billed too.
        spill: dict[int, float] = {}
        for i in mine:
            arrival = new_end[i] + new_post[i]
            for c in self.dag.downs[i]:
                if c not in members and not self.first_in_branch[c] and arrival > self.start[c] + EPS:
                    spill[c] = max(spill.get(c, 0.0), arrival - self.start[c])
        return True, {"start": new_start, "end": new_end, "post": new_post, "st": new_st,
                      "rt": {i: new_end[i] - new_start[i] for i in mine}, "spill": spill}

    def commit(self, w: int, proposal: dict) -> None:
        mine = self.tasks_of[w]
        for i in mine:
            self.rt[i] = proposal["rt"][i]
            self.post[i] = proposal["post"][i]
            # The old pool's process hand-over no longer binds this worker.
            kept = [c for c in self.pred[i] if not c[2]]
            for p, b, after in self.pred[i]:
                if after and p >= 0:
                    self.succ[p] = [c for c in self.succ[p] if c[0] != i or not c[2]]
            self.pred[i] = kept
        for b, v in proposal["st"].items():
            self.st[b] = v
        self._relax_forward(mine)
        self._relax_backward(mine)

    def _relax_forward(self, seeds: list[int]) -> None:
        self._relax(seeds, 1, self._forward_one, lambda i: (s for s, _, _ in self.succ[i]))

    def _relax_backward(self, seeds: list[int]) -> None:
        self._relax(seeds, -1, self._backward_one, lambda i: (p for p, _, _ in self.pred[i] if p >= 0))

    def _relax(self, seeds: list[int], direction: int, update, neighbours) -> None:
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
