"""The point simulation: when each task starts and ends under a plan, and what it waited for.

An event-driven simulation, in time order, of what the runtime does:

* a task is *ready* when its last upstream has ended and that upstream's
  worker has updated the counters (the post-task overhead);
* a logical worker's *branch* is dispatched when its first task becomes ready
  (root workers at time 0). It needs a pool process of its memory size: an
  idle process that served this workflow within the keep-alive window starts
  it **warm**; an idle process that has not (past the window, or one of the
  pool's ``min_pool`` standing processes) starts it **cold**; while the pool
  has room, a process is spawned for it (**new**) — one at a time per
  configuration, as a worker forks its pool processes one after another
  (a branch needing a spawn while another is under way waits for it); with the
  pool full it takes over the process of a branch that sits idle waiting for a
  remote input (that branch yields, as the runtime's bounded wait does), or
  else waits for the first process to free up;
* a branch runs its ready tasks one at a time, the one with the longest path
  to the end first (the runtime follows the planned start order), each as
  download remote inputs → exec → upload if needed → post-task overhead;
* a branch holds its process from start-up until its last task is done,
  waiting for remote inputs included. A worker whose branch yielded starts a
  new branch when its next task becomes ready.

The prior system decided warm/cold from worker activity periods that left
out start-up time, while those periods depended on the start-ups: a circular
dependency. Simulating in time order removes it: when a branch is
dispatched, every process's state at that moment is already known, and a
process is busy from the start-up of the branch it serves.

With ``Sharing`` (the hosts' usable cores), the execute part of every task
runs under processor sharing (``sharing``): branches running at once share
the cores, and a CPU-bound task among more of them than there are cores takes
longer than its configuration's quota alone says. Each task's *stretch*
(executed time over uncontended time) is recorded for Monte Carlo.

Each decision is recorded as the waits it causes (``waits``): Monte Carlo,
the slack screen and the critical path read those, never the decisions again.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from orchestrator.core import startup as kinds
from orchestrator.planning.dag import Dag
from orchestrator.planning.sharing import Cores
from orchestrator.planning.waits import DISPATCH, PROCESS, SPAWN, Clock, Readiness, Wait, Waits

# Events, in time order (ties: the order they were pushed).
UP_EVENT, DONE, EXEC, EXEC_END = 0, 1, 2, 3
# A logical worker's state.
NEW, STARTING, IDLE, BUSY, YIELDED, FINISHED = range(6)


@dataclass
class Branch:
    worker: int
    memory_mb: int
    dispatched_s: float = 0.0  # branch requested
    trigger: int = -1  # the task whose readiness dispatched it
    state: str = kinds.NEW  # warm / cold / new (orchestrator.core.startup)
    after: int = -1  # the branch whose process it took over or waited for, -1 for a new process
    spawn_after: int = -1  # a new process: the spawn on its configuration it queued behind, if any
    prewarm_hit: float = 0.0  # a pre-warm ping targets it: the chance its start-up is warm
    up_s: float = 0.0  # start-up done: ready for its first task
    startup_s: float = 0.0  # start-up duration (excluding a pool wait)
    pool_wait_s: float = 0.0
    first: int = -1
    last: int = -1
    released_s: float = 0.0

    @property
    def cold(self) -> bool:
        return self.state != kinds.WARM


@dataclass
class Timeline:
    start: list[float]
    end: list[float]  # download + exec + upload done (the task's observed end)
    ready: list[float]  # all inputs available
    branch_of: list[int]
    prev_in_branch: list[int]  # the task run just before in the same branch, -1 for a branch's first
    order: list[int]  # tasks in the order they started
    branches: list[Branch]
    makespan: float
    waits: Waits  # what each task and branch waited for (``waits``)
    # Per task: its execute part's time under processor sharing over its uncontended time (1: none).
    stretch: list[float] = field(default_factory=list)
    begin: list[float] = field(default_factory=list)  # work begins: preloaded inputs are in
    post: list[float] = field(default_factory=list, repr=False)  # post-task overheads simulated
    sink: int = -1

    def clock(self, post: list[float] | None = None) -> Clock:
        """This timeline's times as a ``waits.Clock`` (``post``: the overheads, the simulated ones by default)."""
        clock = Clock(self.waits)
        clock.start, clock.begin, clock.end = self.start, self.begin, self.end
        clock.done = [e + p for e, p in zip(self.end, self.post if post is None else post)]
        clock.up = [br.up_s for br in self.branches]
        return clock

    @cached_property
    def critical_path(self) -> list[int]:
        """The tasks whose waits held, from a root to the sink (``Clock.critical_path``), walked when
        first read: most simulations of a planning session are compared by makespan alone."""
        return self.clock().critical_path(self.sink)


@dataclass(frozen=True)
class Work:
    """Per task: its logical worker, point durations and what optimizations change.

    ``run_time``: download + exec + upload (without preloaded downloads); ``post``: the post-task
    overhead; ``priority``: the longer the path to the end, the earlier among ready tasks;
    ``fresh_extra``: how much longer it takes in a new process's first branch; ``preload``: tasks
    whose worker downloads some inputs as soon as they exist (PreLoad), task → [(upstream, download s)];
    ``prewarm``: tasks whose branch a pre-warm ping targets, with the chance it makes the start-up
    warm; ``yield_before``: tasks whose worker gives up its process instead of waiting for them (when
    nothing else of that worker is left to run first) and starts a new branch for them."""

    worker: list[int]
    run_time: list[float]
    post: list[float]
    priority: list[float]
    fresh_extra: list[float] | None = None
    preload: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    prewarm: dict[int, float] = field(default_factory=dict)
    yield_before: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Pools:
    """The pool processes branches start in, per memory size (the logical workers' ``worker_memory``).

    ``startup(memory_mb, kind)``: a start-up's duration; ``warm_processes``: idle processes at time 0
    as (memory_mb, seconds since they last served); ``min_pool``: processes each configuration keeps
    standing (cold for this workflow unless warm); ``pool_processes``: processes alive at time 0 per
    configuration, where known (at least ``min_pool``); ``pool_size``: processes at most (None: no bound)."""

    worker_memory: list[int]
    startup: Callable[[int, str], float]
    keepalive_s: float
    pool_size: int | None
    warm_processes: tuple[tuple[int, float], ...] = ()
    min_pool: int = 0
    pool_processes: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Sharing:
    """The cores the tasks share, with each task's demand (cores it uses executing uncontended) and the
    parts of ``run_time`` that execute and upload (the rest, downloads, comes first)."""

    cores: float
    cpu_demand: list[float]
    exec_part: list[float]
    upload_part: list[float]


class _Pool:
    """One memory size's processes: idle ones, how many serve a branch, who could give one up."""

    def __init__(self):
        self.idle: list[tuple[float, int]] = []  # (last served, last branch)
        self.busy = 0
        self.holders: list[int] = []  # workers idle in a branch (may be asked to yield)
        self.waiters: list[tuple[float, int]] = []  # (since, worker) waiting for a process
        self.spawn_up, self.spawn_branch = float("-inf"), -1  # the latest spawn: when it is up, its branch

    def take_idle(self) -> tuple[float, int]:
        k = max(range(len(self.idle)), key=lambda j: self.idle[j])  # the most recently used process
        self.busy += 1
        return self.idle.pop(k)


class _Worker:
    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self.queue: list[tuple[float, int]] = []  # heap of (-priority, task)
        self.state = NEW
        self.branch = -1  # the current branch
        self.idle_since = 0.0
        self.left = 0  # tasks not done yet
        self.free_left = 0  # of those, tasks not behind a yield point


class Simulation:
    """One point simulation of a plan (see the module); ``run()`` returns its ``Timeline``."""

    def __init__(self, dag: Dag, work: Work, pools: Pools, sharing: Sharing | None = None):
        self.dag, self.work, self.pools = dag, work, pools
        n = dag.n
        self.start, self.end, self.ready, self.begin = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        self.waits = Waits(dag.ups)
        self.waits.preload = work.preload
        self.branch_of, self.prev_in = self.waits.branch_of, self.waits.previous
        self.order: list[int] = []
        self.branches: list[Branch] = []
        self.readiness = Readiness(dag)
        self.workers = [_Worker(mb) for mb in pools.worker_memory]
        for i in range(n):
            self.workers[work.worker[i]].left += 1
        # Tasks behind a yield point within their worker; a worker idle with only those left yields.
        self.behind = [False] * n
        for i in range(n):
            self.behind[i] = i in work.yield_before or any(
                self.behind[u] and work.worker[u] == work.worker[i] for u in dag.ups[i]
            )
            self.workers[work.worker[i]].free_left += not self.behind[i]
        self.pools_by_mb: dict[int, _Pool] = {}
        for mb, ago in pools.warm_processes:
            self._pool(int(mb)).idle.append((-float(ago), -1))
        for mb in set(pools.worker_memory):
            standing = self._pool(mb).idle
            alive = max(pools.min_pool, pools.pool_processes.get(mb, 0))
            standing.extend([(float("-inf"), -1)] * max(0, alive - len(standing)))
        self.events: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.sharing = sharing
        self.host = Cores(sharing.cores) if sharing is not None else None
        self.stretch = [1.0] * n
        self.exec_began = [0.0] * n
        self.exec_work = [0.0] * n
        self.due: dict[int, float] = {}  # executing task → the finish its latest event stands for

    def _pool(self, mb: int) -> _Pool:
        pool = self.pools_by_mb.get(mb)
        if pool is None:
            pool = self.pools_by_mb[mb] = _Pool()
        return pool

    def _push(self, t: float, kind: int, x: int) -> None:
        heapq.heappush(self.events, (t, self.seq, kind, x))
        self.seq += 1

    # --- the run -------------------------------------------------------------------------

    def run(self) -> Timeline:
        for i in self.dag.roots():
            self._make_ready(i, 0.0)
        handlers = {UP_EVENT: self._on_up, DONE: self._on_done, EXEC: self._begin_exec, EXEC_END: self._on_exec_end}
        while self.events:
            t, _, kind, x = heapq.heappop(self.events)
            handlers[kind](x, t)
        if len(self.order) != self.dag.n:
            raise RuntimeError(f"simulation stalled after {len(self.order)} of {self.dag.n} tasks")
        return Timeline(
            self.start,
            self.end,
            self.ready,
            self.branch_of,
            self.prev_in,
            self.order,
            self.branches,
            makespan=self.end[self.dag.sink],
            stretch=self.stretch,
            waits=self.waits,
            begin=self.begin,
            post=list(self.work.post),
            sink=self.dag.sink,
        )

    def _on_up(self, w: int, t: float) -> None:
        self._run_next(w, t)

    def _on_done(self, i: int, t: float) -> None:
        w = self.work.worker[i]
        worker = self.workers[w]
        worker.left -= 1
        for c in self.readiness.done(i)[0]:
            self._make_ready(c, t)
        if worker.left == 0:
            self._hand_on(w, t)
        elif worker.state == BUSY:
            self._run_next(w, t)

    def _make_ready(self, i: int, t: float) -> None:
        self.ready[i] = t
        w = self.work.worker[i]
        worker = self.workers[w]
        heapq.heappush(worker.queue, (-self.work.priority[i], i))
        if worker.state in (NEW, YIELDED):
            self._dispatch(w, t, i)
        elif worker.state == IDLE:
            self._run_next(w, t)

    # --- branches and processes ------------------------------------------------------------

    def _dispatch(self, w: int, t: float, trigger: int) -> None:
        """Worker ``w`` needs a process for a new branch, from ``t`` on."""
        worker = self.workers[w]
        mb = worker.memory_mb
        b = len(self.branches)
        self.branches.append(Branch(worker=w, memory_mb=mb, dispatched_s=t, trigger=trigger))
        self.waits.branch.append([Wait(DISPATCH, u) for u in self.dag.ups[trigger]] or [Wait(DISPATCH, -1)])
        self.waits.first.append(-1)
        worker.branch, worker.state = b, STARTING
        pool = self._pool(mb)
        if pool.idle:
            served, prev = pool.take_idle()
            self._begin(b, t, self._kind(served, t), prev, 0.0)
        elif self.pools.pool_size is None or pool.busy < self.pools.pool_size:
            pool.busy += 1
            self._begin(b, t, kinds.NEW, -1, 0.0)
        elif pool.holders:
            h = min(pool.holders, key=lambda x: (self.workers[x].idle_since, x))
            served = self.workers[h].idle_since
            self._begin(b, t, self._kind(served, t), self._step_down(h, t), 0.0)
        else:
            pool.waiters.append((t, w))

    def _kind(self, served: float, t: float) -> str:
        return kinds.WARM if t - served <= self.pools.keepalive_s else kinds.COLD

    def _begin(self, b: int, t: float, kind: str, after: int, wait: float) -> None:
        """Branch ``b`` starts up at ``t`` (later if its spawn queues) in a ``kind`` process."""
        br = self.branches[b]
        startup = self.pools.startup
        br.state, br.after, br.pool_wait_s = kind, after, wait
        br.startup_s = startup(br.memory_mb, kind)
        hit = self.work.prewarm.get(br.trigger, 0.0) if kind != kinds.WARM else 0.0
        if hit:
            br.prewarm_hit = hit
            br.startup_s = hit * startup(br.memory_mb, kinds.WARM) + (1 - hit) * br.startup_s
        if after >= 0:
            self.waits.branch[b].append(Wait(PROCESS, self.branches[after].last))
        pool = self._pool(br.memory_mb)
        if kind == kinds.NEW and pool.spawn_up > t:
            br.spawn_after, br.pool_wait_s, t = pool.spawn_branch, br.pool_wait_s + pool.spawn_up - t, pool.spawn_up
            self.waits.branch[b].append(Wait(SPAWN, br.spawn_after))
        br.up_s = t + br.startup_s
        if kind == kinds.NEW:
            pool.spawn_up, pool.spawn_branch = br.up_s, b
        self.workers[br.worker].state = STARTING
        self._push(br.up_s, UP_EVENT, br.worker)

    def _step_down(self, w: int, t: float) -> int:
        """End worker ``w``'s current branch; returns it. Its process goes to the caller."""
        worker = self.workers[w]
        b = worker.branch
        self.branches[b].released_s = t
        holders = self._pool(worker.memory_mb).holders
        if w in holders:
            holders.remove(w)
        worker.state = YIELDED if worker.left else FINISHED
        return b

    def _hand_on(self, w: int, t: float) -> None:
        """``w``'s branch ends at ``t``: its process goes to a waiter or back to the pool."""
        b = self._step_down(w, t)
        pool = self._pool(self.workers[w].memory_mb)
        if pool.waiters:
            since, nxt = pool.waiters.pop(0)
            self._begin(self.workers[nxt].branch, t, kinds.WARM, b, t - since)
        else:
            pool.busy -= 1
            pool.idle.append((t, b))

    # --- tasks -------------------------------------------------------------------------------

    def _run_next(self, w: int, t: float) -> None:
        """Worker ``w`` is free at ``t``: it runs its most urgent ready task, or waits, or lets go."""
        worker = self.workers[w]
        pool = self._pool(worker.memory_mb)
        if not worker.queue:
            if pool.waiters or (self.work.yield_before and worker.free_left == 0):
                self._hand_on(w, t)  # nothing to do, and someone needs the process or the plan yields here
            else:
                worker.state, worker.idle_since = IDLE, t
                pool.holders.append(w)
            return
        _, i = heapq.heappop(worker.queue)
        worker.free_left -= not self.behind[i]
        if worker.state == IDLE:
            pool.holders.remove(w)
        worker.state = BUSY
        self._start(i, worker.branch, t)

    def _start(self, i: int, b: int, t: float) -> None:
        br, work = self.branches[b], self.work
        self.start[i], self.branch_of[i], self.prev_in[i] = t, b, br.last
        if br.first < 0:
            br.first = self.waits.first[b] = i
        br.last = i
        self.order.append(i)
        fresh_extra = work.fresh_extra if br.state == kinds.NEW else None
        extra = fresh_extra[i] * (1 - br.prewarm_hit) if fresh_extra is not None else 0.0
        # Preloaded inputs were fetched from their upstream's end on: the task waits only for what is left.
        preloaded = work.preload.get(i)
        begin = max([t] + [self.end[u] + work.post[u] + dl for u, dl in preloaded]) if preloaded else t
        self.begin[i] = begin
        s = self.sharing
        if s is not None and s.cpu_demand[i] > 0 and s.exec_part[i] + extra > 0:
            self.exec_work[i] = s.exec_part[i] + extra
            at = begin + max(0.0, work.run_time[i] - s.exec_part[i] - s.upload_part[i])
            if at > t:
                self._push(at, EXEC, i)  # downloads first
            else:
                self._begin_exec(i, t)
            return
        self.end[i] = begin + work.run_time[i] + extra
        self._push(self.end[i] + work.post[i], DONE, i)

    def _begin_exec(self, i: int, t: float) -> None:
        assert self.sharing is not None and self.host is not None, "only under processor sharing"
        self.exec_began[i] = t
        self._reschedule(self.host.start(i, t, work=self.exec_work[i], demand=self.sharing.cpu_demand[i]))

    def _reschedule(self, moved: list[tuple[int, float]]) -> None:
        for j, finish in moved:
            self.due[j] = finish
            self._push(finish, EXEC_END, j)

    def _on_exec_end(self, i: int, t: float) -> None:
        if self.due.get(i) != t:
            return  # superseded: sharing moved its finish since
        assert self.sharing is not None and self.host is not None, "only under processor sharing"
        del self.due[i]
        self._reschedule(self.host.finish(i, t))
        self.stretch[i] = (t - self.exec_began[i]) / self.exec_work[i]
        self.end[i] = t + self.sharing.upload_part[i]
        self._push(self.end[i] + self.work.post[i], DONE, i)
