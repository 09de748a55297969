"""What each task waits for: the one record the timing model's readers share.

The point simulation (``simulation``) decides, in time order, which branch
runs each task, which process each branch starts in and which spawn it queues
behind. What those decisions make every task wait for is recorded here, once,
as *waits*: "this cannot happen before that time, plus a lag". ::

    a task's work begins after          a branch's start-up begins after
      INPUT     an upstream's done         DISPATCH  an input of the task whose readiness
      PREVIOUS  the task before it in                dispatched it (none for a root: time 0)
                its branch's done          PROCESS   the last task's done of the branch whose
      UP        its branch's start-up               process it takes over (or waited for)
                (a branch's first task)    SPAWN     the start-up of the spawn it queued behind
      PRELOAD   a preloaded input's                  (a worker forks one process at a time)
                download, from that
                upstream's done on

*done* is a task's end plus its post-task overhead (the counters the next
tasks wait on); a branch is *up* when its start-up is over. The first three
task waits set its ``start``; a PreLoad download overlaps what the worker does
before and only delays the work itself (``begin``). PROCESS and SPAWN are the
*pool's* waits: they hold only while the branch runs on that configuration.

Every reader derives times from these waits alone: ``Clock`` settles each
branch and task, in an order the simulation started them, from the times of
what it waits for — Monte Carlo with sampled durations (numpy arrays, every
run at once), ``slack`` with point durations and a deadline — and
``Clock.critical_path`` walks back the waits that held. So a promise, the slack
screen and the critical path cannot drift apart on what a task waits for; on
the point durations, a ``Clock`` gives back the simulation's own times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple

if TYPE_CHECKING:
    from orchestrator.planning.dag import Dag

INPUT, PREVIOUS, UP, PRELOAD = "input", "previous", "up", "preload"
DISPATCH, PROCESS, SPAWN = "dispatch", "process", "spawn"
ON_BRANCH = (UP, SPAWN)  # waits for a branch's start-up; the others wait for a task's done
POOLED = (PROCESS, SPAWN)  # waits on the configuration's pool: a process hand-over, a spawn queue
EPS = 1e-9


class Wait(NamedTuple):
    kind: str
    on: int  # the task waited for; for UP and SPAWN, the branch; -1: nothing (time 0)
    lag: float = 0.0  # PRELOAD: the download's point duration (Monte Carlo draws its own)

    @property
    def on_branch(self) -> bool:
        return self.kind in ON_BRANCH


class Waits:
    """Per task and per branch, what it waits for (see the module). Branches are numbered in the
    order they were dispatched; ``first[b]`` is branch ``b``'s first task. A task's waits follow
    from what the simulation decided for it — its branch, the task before it there, its preloaded
    inputs — and are spelled out when read (``task(i)``), so a simulation costs no more for them."""

    def __init__(self, ups: tuple[tuple[int, ...], ...]):
        n = len(ups)
        self.ups = ups
        self.branch_of = [-1] * n
        self.previous = [-1] * n  # the task before in its branch, -1 for a branch's first
        self.preload: dict[int, list[tuple[int, float]]] = {}  # task → [(upstream, download s)]
        self.branch: list[list[Wait]] = []
        self.first: list[int] = []

    def __len__(self) -> int:
        return len(self.ups)

    def task(self, i: int) -> list[Wait]:
        waits = [Wait(INPUT, u) for u in self.ups[i]]
        prev = self.previous[i]
        waits.append(Wait(PREVIOUS, prev) if prev >= 0 else Wait(UP, self.branch_of[i]))
        waits.extend([Wait(PRELOAD, u, dl) for u, dl in self.preload.get(i, ())])
        return waits

    def nodes(self, order: Iterable[int]) -> Iterator[tuple[bool, int]]:
        """(is a branch, index) in ``order`` (the tasks as they started), each branch just before
        its first task: everything a node waits for comes before it."""
        for i in order:
            b = self.branch_of[i]
            if self.first[b] == i:
                yield True, b
            yield False, i


class Clock:
    """The times of one pass over the waits. ``done`` (end + post) per task and ``up`` per branch are
    what others wait for; values are floats, or numpy arrays with ``maximum=np.maximum``."""

    def __init__(self, waits: Waits, *, zero: Any = 0.0, maximum: Callable = max) -> None:
        n = len(waits)
        self.waits, self.zero, self.maximum = waits, zero, maximum
        self.start: list = [zero] * n
        self.begin: list = [zero] * n
        self.end: list = [zero] * n
        self.done: list = [zero] * n
        self.up: list = [zero] * len(waits.branch)

    def at(self, w: Wait, lag: Any = None) -> Any:
        """When ``w`` is over (``lag``: a PRELOAD's download, its recorded one by default)."""
        kind, on, own_lag = w
        if on < 0:
            return self.zero
        if kind in ON_BRANCH:
            return self.up[on]
        if kind == PRELOAD:
            return self.done[on] + (own_lag if lag is None else lag)
        return self.done[on]

    def latest(self, waits: Iterable[Wait]) -> Any:
        out = None
        for w in waits:
            t = self.at(w)
            out = t if out is None else self.maximum(out, t)
        return self.zero if out is None else out

    def settle_branch(self, b: int, startup: Any) -> None:
        self.up[b] = self.latest(self.waits.branch[b]) + startup

    def settle_task(self, i: int, parts: Iterable, post: Any, fetch: dict | None = None) -> None:
        """Task ``i`` runs ``parts`` (seconds, added in turn: downloads, exec, upload) from when its
        waits are over, then ``post``; ``fetch``: its preloaded inputs' downloads by upstream."""
        waits = self.waits.task(i)
        start = self.latest(w for w in waits if w.kind != PRELOAD)
        begin = start
        for w in waits:
            if w.kind == PRELOAD:
                begin = self.maximum(begin, self.at(w, None if fetch is None else fetch[w.on]))
        end = begin
        for p in parts:
            end = end + p
        self.start[i], self.begin[i], self.end[i], self.done[i] = start, begin, end, end + post

    def critical_path(self, sink: int) -> list[int]:
        """The tasks on the chain of waits that held, from a root to ``sink``, in this pass's times.

        From a task: a PreLoad download that delayed its work, else its latest input, else the task
        before it in its branch, else its branch's start-up; from a start-up: the latest of its
        dispatch trigger's inputs, the branch whose process it took, the spawn it queued behind (a
        start-up is passed through, not listed). Ties go in that order: data dependencies are the
        critical path."""
        path: list[int] = []
        seen: set[tuple[bool, int]] = set()
        node: tuple[bool, int] | None = (False, sink)
        while node is not None and node not in seen:
            seen.add(node)
            is_branch, x = node
            if is_branch:
                w = self._held(self.waits.branch[x], (DISPATCH, PROCESS, SPAWN))
            else:
                path.append(x)
                waits = self.waits.task(x)
                w = self._held(waits, (PRELOAD,)) if self.begin[x] > self.start[x] + EPS else None
                w = w or self._held(waits, (INPUT, PREVIOUS, UP))
            node = None if w is None else (w.on_branch, w.on)
        path.reverse()
        return path

    def _held(self, waits: list[Wait], kinds: tuple[str, ...]) -> Wait | None:
        """The wait among ``kinds`` that held: the latest, ties going to the first kind, then the
        lowest task or branch; None when only time 0 held."""
        timed = [(self.at(w), w) for w in waits if w.kind in kinds]
        if not timed:
            return None
        target = max(t for t, _ in timed) - EPS
        held = [((-kinds.index(w.kind), t, -w.on), w) for t, w in timed if w.on >= 0 and t >= target]
        return max(held)[1] if held else None


class Readiness:
    """How many inputs of each task are still running: ``done(i)`` tells which children task ``i``
    made ready and which still wait for others (both in ``dag.downs`` order)."""

    def __init__(self, dag: Dag) -> None:
        self.dag = dag
        self.waiting = [len(dag.ups[i]) for i in range(dag.n)]

    def done(self, i: int) -> tuple[list[int], list[int]]:
        ready: list[int] = []
        pending: list[int] = []
        for c in self.dag.downs[i]:
            self.waiting[c] -= 1
            (ready if self.waiting[c] == 0 else pending).append(c)
        return ready, pending
