"""The timing simulation: when each task starts and ends under a plan.

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
  (a branch needing a spawn while another is under way waits for it); with the pool full it takes
  over the process of a branch that sits idle waiting for a remote input
  (that branch yields, as the runtime's bounded wait does), or else waits for
  the first process to free up;
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

With ``cores`` (the hosts' usable cores), the execute part of every task
runs under processor sharing (``sharing``): branches running at once share
the cores, and a CPU-bound task among more of them than there are cores takes
longer than its configuration's quota alone says. Each task's *stretch*
(executed time over uncontended time) is recorded for Monte Carlo.

The timeline records, per branch, which process release it depended on;
``montecarlo`` replays these constraints with sampled durations.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

from orchestrator.core.startup import COLD, NEW, WARM
from orchestrator.planning.dag import Dag
from orchestrator.planning.sharing import Cores

_UP, _DONE, _EXEC, _EXEC_END = 0, 1, 2, 3
_NEW, _STARTING, _IDLE, _BUSY, _YIELDED, _FINISHED = range(6)


@dataclass
class Branch:
    worker: int
    memory_mb: int
    dispatched_s: float = 0.0  # branch requested
    trigger: int = -1  # the task whose readiness dispatched it
    state: str = NEW  # warm / cold / new (orchestrator.core.startup)
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
        return self.state != WARM


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
    critical_path: list[int] = field(default_factory=list)
    # Per task: its execute part's time under processor sharing over its uncontended time (1: none).
    stretch: list[float] = field(default_factory=list)


def _state(served: float, t: float, keepalive_s: float) -> str:
    return WARM if t - served <= keepalive_s else COLD


def simulate(dag: Dag, *, worker: list[int], worker_memory: list[int], run_time: list[float], post: list[float],
             priority: list[float], startup: Callable[[int, str], float], keepalive_s: float,
             pool_size: int | None, warm_processes: tuple[tuple[int, float], ...] = (),
             min_pool: int = 0, yield_before: frozenset[int] = frozenset(),
             pool_processes: dict[int, int] | None = None, fresh_extra: list[float] | None = None,
             preload: dict[int, list[tuple[int, float]]] | None = None,
             prewarm: dict[int, float] | None = None, cores: float | None = None,
             cpu_demand: list[float] | None = None, exec_part: list[float] | None = None,
             upload_part: list[float] | None = None) -> Timeline:
    """``warm_processes``: idle processes at time 0 as (memory_mb, seconds since they last served);
    ``min_pool``: processes each configuration keeps standing (cold for this workflow unless warm);
    ``pool_processes``: processes alive at time 0 per configuration, where known (at least ``min_pool``);
    ``fresh_extra``: how much longer each task takes when it runs in a new process's first branch;
    ``preload``: tasks whose worker downloads some inputs as soon as they exist (PreLoad), as
    task → [(upstream, download s)] — those downloads are not in ``run_time`` and overlap what the
    worker does before the task;
    ``prewarm``: tasks whose branch a pre-warm ping targets (PreWarm), with the chance it makes the
    start-up warm: a cold or new start-up then costs that share of a warm one (and of the fresh-process
    extra, the rest);
    ``yield_before``: tasks whose worker gives up its process instead of waiting for them (when
    nothing else of that worker is left to run first) and starts a new branch for them;
    ``cores``: the cores the tasks share (None: as many as they want, as on FaaS), with
    ``cpu_demand`` (cores each task uses while executing uncontended), ``exec_part`` and
    ``upload_part`` (the parts of ``run_time`` that execute and upload: the rest, downloads,
    comes first)."""
    n, n_workers = dag.n, len(worker_memory)
    start, end, ready = [0.0] * n, [0.0] * n, [0.0] * n
    branch_of, prev_in = [-1] * n, [-1] * n
    order: list[int] = []
    waiting_ups = [len(dag.ups[i]) for i in range(n)]
    left = [0] * n_workers
    for i in range(n):
        left[worker[i]] += 1
    # Tasks behind a yield point within their worker; a worker idle with only those left yields.
    behind = [False] * n
    free_left = [0] * n_workers
    for i in range(n):
        behind[i] = i in yield_before or any(behind[u] and worker[u] == worker[i] for u in dag.ups[i])
        free_left[worker[i]] += not behind[i]
    queued: list[list] = [[] for _ in range(n_workers)]  # heaps of (-priority, position)
    state = [_NEW] * n_workers
    current = [-1] * n_workers  # the worker's current branch
    idle_since = [0.0] * n_workers
    branches: list[Branch] = []
    idle: dict[int, list[tuple[float, int]]] = {}  # memory → idle processes as (last served, last branch)
    busy: dict[int, int] = {}  # memory → processes serving a branch (the pool is busy + idle)
    holders: dict[int, list[int]] = {}  # memory → workers idle in a branch (may be asked to yield)
    waiters: dict[int, list[tuple[float, int]]] = {}
    spawning: dict[int, tuple[float, int]] = {}  # memory → (when the latest spawn is up, its branch)
    for mb, ago in warm_processes:
        idle.setdefault(int(mb), []).append((-float(ago), -1))
    for mb in set(worker_memory):
        standing = idle.setdefault(mb, [])
        alive = max(min_pool, (pool_processes or {}).get(mb, 0))
        standing.extend([(float("-inf"), -1)] * max(0, alive - len(standing)))
    events: list[tuple] = []
    seq = 0
    shared = cores is not None and cpu_demand is not None and exec_part is not None and upload_part is not None
    if cores is not None and not shared:
        raise ValueError("cores needs cpu_demand, exec_part and upload_part")
    host = Cores(cores) if shared else None
    stretch = [1.0] * n
    exec_began = [0.0] * n
    exec_work = [0.0] * n
    due: dict[int, float] = {}  # executing task → the finish its latest event stands for

    def push(t: float, kind: int, x: int) -> None:
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, x))
        seq += 1

    def begin(b: int, t: float, kind: str, after: int, wait: float) -> None:
        br = branches[b]
        br.state, br.after, br.pool_wait_s = kind, after, wait
        br.startup_s = startup(br.memory_mb, kind)
        hit = (prewarm or {}).get(br.trigger, 0.0) if kind != WARM else 0.0
        if hit:
            br.prewarm_hit = hit
            br.startup_s = hit * startup(br.memory_mb, WARM) + (1 - hit) * br.startup_s
        if kind == NEW:
            busy_until, prev = spawning.get(br.memory_mb, (float("-inf"), -1))
            if busy_until > t:
                br.spawn_after, br.pool_wait_s, t = prev, br.pool_wait_s + busy_until - t, busy_until
        br.up_s = t + br.startup_s
        if kind == NEW:
            spawning[br.memory_mb] = (br.up_s, b)
        state[br.worker] = _STARTING
        push(br.up_s, _UP, br.worker)

    def dispatch(w: int, t: float, trigger: int) -> None:
        mb = worker_memory[w]
        b = len(branches)
        branches.append(Branch(worker=w, memory_mb=mb, dispatched_s=t, trigger=trigger))
        current[w] = b
        state[w] = _STARTING
        pool = idle.setdefault(mb, [])
        if pool:
            k = max(range(len(pool)), key=lambda j: pool[j])  # the most recently used process
            served, prev = pool.pop(k)
            busy[mb] = busy.get(mb, 0) + 1
            begin(b, t, _state(served, t, keepalive_s), prev, 0.0)
            return
        if pool_size is None or busy.get(mb, 0) < pool_size:
            busy[mb] = busy.get(mb, 0) + 1
            begin(b, t, NEW, -1, 0.0)
            return
        idle_holders = holders.get(mb)
        if idle_holders:
            h = min(idle_holders, key=lambda x: (idle_since[x], x))
            served = idle_since[h]
            prev = step_down(h, t)
            begin(b, t, _state(served, t, keepalive_s), prev, 0.0)
            return
        waiters.setdefault(mb, []).append((t, w))

    def step_down(w: int, t: float) -> int:
        """End worker ``w``'s current branch; returns it. Its process goes to the caller."""
        b = current[w]
        branches[b].released_s = t
        if w in holders.get(worker_memory[w], ()):
            holders[worker_memory[w]].remove(w)
        state[w] = _YIELDED if left[w] else _FINISHED
        return b

    def hand_on(w: int, t: float) -> None:
        """``w``'s branch ends at ``t``: its process goes to a waiter or back to the pool."""
        b = step_down(w, t)
        mb = worker_memory[w]
        queue = waiters.get(mb)
        if queue:
            since, nxt = queue.pop(0)
            begin(current[nxt], t, WARM, b, t - since)
        else:
            busy[mb] -= 1
            idle.setdefault(mb, []).append((t, b))

    def run_next(w: int, t: float) -> None:
        if not queued[w]:
            if waiters.get(worker_memory[w]) or (yield_before and free_left[w] == 0):
                hand_on(w, t)  # nothing to do, and someone needs the process or the plan yields here
            else:
                state[w] = _IDLE
                idle_since[w] = t
                holders.setdefault(worker_memory[w], []).append(w)
            return
        _, i = heapq.heappop(queued[w])
        free_left[w] -= not behind[i]
        if state[w] == _IDLE:
            holders[worker_memory[w]].remove(w)
        state[w] = _BUSY
        b = current[w]
        br = branches[b]
        start[i] = t
        branch_of[i] = b
        prev_in[i] = br.last
        if br.first < 0:
            br.first = i
        br.last = i
        order.append(i)
        extra = fresh_extra[i] * (1 - br.prewarm_hit) if fresh_extra is not None and br.state == NEW else 0.0
        # Preloaded inputs were fetched from their upstream's end on: the task waits only for what is left.
        begin_at = max([t] + [end[u] + post[u] + dl for u, dl in (preload or {}).get(i, ())])
        if host is not None and cpu_demand[i] > 0 and exec_part[i] + extra > 0:
            exec_work[i] = exec_part[i] + extra
            at = begin_at + max(0.0, run_time[i] - exec_part[i] - upload_part[i])
            if at > t:
                push(at, _EXEC, i)  # downloads first
            else:
                begin_exec(i, t)
            return
        end[i] = begin_at + run_time[i] + extra
        push(end[i] + post[i], _DONE, i)

    def begin_exec(i: int, t: float) -> None:
        exec_began[i] = t
        reschedule(host.start(i, t, work=exec_work[i], demand=cpu_demand[i]))

    def reschedule(moved: list[tuple[int, float]]) -> None:
        for j, finish in moved:
            due[j] = finish
            push(finish, _EXEC_END, j)

    def make_ready(i: int, t: float) -> None:
        ready[i] = t
        w = worker[i]
        heapq.heappush(queued[w], (-priority[i], i))
        if state[w] in (_NEW, _YIELDED):
            dispatch(w, t, i)
        elif state[w] == _IDLE:
            run_next(w, t)

    for i in dag.roots():
        make_ready(i, 0.0)
    while events:
        t, _, kind, x = heapq.heappop(events)
        if kind == _UP:
            run_next(x, t)
            continue
        if kind == _EXEC:
            begin_exec(x, t)
            continue
        if kind == _EXEC_END:
            if due.get(x) != t:
                continue  # superseded: sharing moved its finish since
            del due[x]
            reschedule(host.finish(x, t))
            stretch[x] = (t - exec_began[x]) / exec_work[x]
            end[x] = t + upload_part[x]
            push(end[x] + post[x], _DONE, x)
            continue
        w = worker[x]
        left[w] -= 1
        for c in dag.downs[x]:
            waiting_ups[c] -= 1
            if waiting_ups[c] == 0:
                make_ready(c, t)
        if left[w] == 0:
            hand_on(w, t)
        elif state[w] == _BUSY:
            run_next(w, t)
    if len(order) != n:
        raise RuntimeError(f"simulation stalled after {len(order)} of {n} tasks")
    tl = Timeline(start, end, ready, branch_of, prev_in, order, branches, makespan=end[dag.sink], stretch=stretch)
    tl.critical_path = critical_path(dag, tl, post)
    return tl


def critical_path(dag: Dag, tl: Timeline, post: list[float]) -> list[int]:
    """Walk back from the sink through whatever held each task back.

    A task waited for its latest input, for the task before it in its branch,
    or — as a branch's first task — for the branch's dispatch (the trigger's
    latest input) or for a pool process (the last task of the branch it
    waited for). Inputs win ties: data dependencies are the critical path.
    """
    eps = 1e-9
    path: list[int] = []
    seen: set[int] = set()
    i = dag.sink
    while i >= 0 and i not in seen:
        seen.add(i)
        path.append(i)
        s = tl.start[i]
        latest = max(dag.ups[i], key=lambda u: (tl.end[u] + post[u], -u), default=-1)
        if latest >= 0 and tl.end[latest] + post[latest] >= s - eps:
            i = latest
            continue
        if tl.prev_in_branch[i] >= 0:
            i = tl.prev_in_branch[i]
            continue
        br = tl.branches[tl.branch_of[i]]
        if br.pool_wait_s > eps and br.after >= 0:
            i = tl.branches[br.after].last
            continue
        trig = br.trigger
        i = max(dag.ups[trig], key=lambda u: (tl.end[u] + post[u], -u), default=-1) if trig >= 0 else -1
    path.reverse()
    return path
