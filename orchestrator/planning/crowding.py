"""Fewer parallel branches when they only crowd the cores the critical path needs.

On an idle host, the assignment rules run long sibling branches in parallel.
When the hosts' cores are fewer than the busy branches (``sharing``), that
parallelism is an illusion: the siblings share the cores with the critical
path and slow it down, while the siblings themselves finish no sooner than
they would with fewer workers. ::

      r                 a 3 s chain (critical) beside twelve 0.2 s siblings, 2 cores:
    / | \\               thirteen branches at once give the chain 2/13 of a core until
   a  s1 … s12          the siblings are done (4.1 s in all); the siblings on one worker
   |                    leave it a core of its own (3.0 s) — and start 11 processes fewer
   a'

For each *family* — workers whose first tasks have the same upstreams (a
fan-out's children, or the roots) and hold no critical-path task — the
family is folded onto half as many workers, then half again (each worker's
tasks move whole, round-robin in order of their start), and each fold is
simulated; the shortest typical makespan wins if it beats the current one by
``CONTENDED``. Nothing is tried when sharing does not slow the critical path,
and the simulations are bounded (``BUDGET`` task simulations), so planning
time stays flat.
"""

from __future__ import annotations

from typing import Callable

from orchestrator.planning.dag import Dag
from orchestrator.planning.timing import Timeline

BUDGET = 3_000  # task simulations (tasks × trials) spent on folding at most
CONTENDED = 0.01


def fold(dag: Dag, worker: list[int], tl: Timeline, simulate: Callable[[list[int]], Timeline]) -> list[int]:
    """A worker assignment with crowding families folded where that shortens the run.

    ``simulate(worker) -> Timeline``: the typical point simulation of an assignment.
    """
    if not any(tl.stretch[i] > 1.0 + CONTENDED for i in tl.critical_path):
        return worker
    trials = max(0, BUDGET // max(dag.n, 1))
    critical = {worker[i] for i in tl.critical_path}
    first: dict[int, int] = {}
    for i in tl.order:
        first.setdefault(worker[i], i)
    families: dict[tuple, list[int]] = {}
    for w, i in first.items():
        if w not in critical:
            families.setdefault(dag.ups[i], []).append(w)
    # The families that crowd most first: those with the most busy time beside the critical path.
    busy = [0.0] * (max(worker) + 1)
    for i in range(dag.n):
        busy[worker[i]] += tl.end[i] - tl.start[i]
    ranked = sorted(
        (fam for fam in families.values() if len(fam) > 1),
        key=lambda fam: (-sum(busy[w] for w in fam), min(first[w] for w in fam)),
    )
    best, best_makespan = worker, tl.makespan
    for fam in ranked:
        fam = sorted(fam, key=lambda w: (tl.start[first[w]], first[w]))
        chosen = None
        k = len(fam) // 2
        while k >= 1 and trials > 0:
            into = {w: fam[j % k] for j, w in enumerate(fam)}
            trial = [into.get(w, w) for w in best]
            trials -= 1
            made = simulate(trial).makespan
            if made < best_makespan * (1 - CONTENDED):
                chosen, best_makespan = trial, made
            k //= 2
        if chosen is not None:
            best = chosen
        if trials <= 0:
            break
    return _renumber(best) if best is not worker else worker


def _renumber(worker: list[int]) -> list[int]:
    seen: dict[int, int] = {}
    return [seen.setdefault(w, len(seen)) for w in worker]
