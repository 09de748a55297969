"""Logical worker assignment (REFERENCE.md "Uniform"), critical-path aware.

Walk the tasks in structural topological order:

* 1 → 1 and fan-out: the parent's *exclusive* children (those with no other
  upstream) are split into short and long. The critical child — the one with
  the longest path to the end — stays on the parent's worker first (the
  prior system ignored the critical path here); then up to 3 tasks in all
  stay: short ones, largest output first. The rest form new workers: one
  long + two short, then three short, then long ones alone. ::

           p            p:w0   critical child c1 and short c2, c3 stay on w0;
       / | | | \\       c4 (long) + c5, c6 (short) → w1; c7 alone → w2
     c1 c2 c3 c4 ...

* N → 1 (a task with several upstreams): a critical-path task joins the
  worker of its critical upstream (the latest to arrive); any other joins the
  worker whose upstreams produce the most bytes. ::

     a:w0   b:w1        d on the critical path through b → w1;
        \\  /           otherwise → the worker of the bigger outputs
          d

* Siblings of one N → 1 shape (several tasks with the same upstreams: BWA's
  alignments each read the index and one chunk of the reads, 1000Genome's
  mutation-overlap jobs read one chromosome's merge and sifting) are a fan-out
  of that upstream set: the worker the first rule picks is their parent's,
  and they are split as above, so 241 alignments do not queue on one worker.
  A new worker's overhead counts fetching every upstream's output. ::

     i:w0   r:w1        the critical sibling and up to 2 short ones join w1
      |\\  /|            (the worker of the bigger outputs); the rest form
      | a b c ...       new workers, one long + two short, three short, …

* Roots are the children of a virtual parent with no worker: they are
  grouped the same way (nothing "stays").

* No fan-out keeps more workers busy than the cores (``width``: the cores the
  plan shares, when known): when its groups are more, every child that does
  not stay is dealt onto the parent's worker and ``width - 1`` new ones
  (``width`` for roots), longest exclusive work first onto the least loaded.
  Siblings beyond the cores only share them — with every body bounded by the
  host's core slots they would wait for one anyway — while each costs a
  start-up and a pool process, and each split edge an output stored for
  another process. Measured on 2 cores before this bound: a 104-job BWA planned
  onto 35 logical workers, 33 of them requested at once, queued up to 5.5 s
  for pool processes (14.6 s against WUKONG's 12.3 s). ::

           p            width 2: c1 (critical) and c2, c3 stay on w0 with
       / | | | \\       their exclusive work; c4 … c9 are dealt between w0
     c1 c2 … c9         and one new worker w1, whichever holds less work

"Short" means no more work than starting a new worker costs (a cold start-up
plus fetching the parent's output), where the work counted is the child's
exclusive subtree (it follows the child onto its worker). The prior system
split at the median predicted exec time instead, which serialises long chains
behind each other when they are all alike, and sends the bigger of two tiny
branches to a worker of its own; against the start-up cost, tiny work stays
together and long work runs in parallel.

Ties are broken by structural position, never by names.
"""

from __future__ import annotations

from orchestrator.planning.dag import Dag

STAY_MAX = 3


def critical_flags(dag: Dag, own: list[float], edge: list[float]) -> list[bool]:
    """Tasks on the critical path when every edge is remote.

    ``own[i]``: task time; ``edge[u]``: time for ``u``'s output to reach a consumer.
    """
    finish = [0.0] * dag.n
    for i in range(dag.n):
        finish[i] = max((finish[u] + edge[u] for u in dag.ups[i]), default=0.0) + own[i]
    flags = [False] * dag.n
    i = dag.sink
    while True:
        flags[i] = True
        if not dag.ups[i]:
            return flags
        i = max(dag.ups[i], key=lambda u: (finish[u] + edge[u], -u))


def exclusive_work(dag: Dag, work: list[float]) -> list[float]:
    """Work of a task plus everything below it that only it feeds (an exclusive subtree)."""
    total = list(work)
    for i in reversed(range(dag.n)):
        for d in dag.downs[i]:
            if len(dag.ups[d]) == 1:
                total[i] += total[d]
    return total


def assign(
    dag: Dag,
    *,
    work: list[float],
    level: list[float],
    output_bytes: list[int],
    critical: list[bool],
    arrival: list[float],
    startup_s: float,
    fetch_s: list[float],
    width: int | None = None,
) -> list[int]:
    """Logical worker per task position (0, 1, … in order of creation).

    ``work``: predicted exec time; ``level``: longest path from the task to the end;
    ``arrival``: when the task's output could reach a consumer (for the critical upstream);
    ``startup_s``: a cold start-up; ``fetch_s[u]``: downloading ``u``'s output elsewhere;
    ``width``: the workers one fan-out may keep busy at once (the cores; None: no bound).
    """
    worker = [-1] * dag.n
    sub = exclusive_work(dag, work)
    counter = iter(range(dag.n + 1))

    def spread(children: list[int], home: int | None, overhead: float) -> None:
        """``children`` of one parent (or upstream set) whose worker is ``home`` (None: roots, no
        worker yet); a child is short when its exclusive work is within ``overhead``."""
        if not children:
            return
        is_short = {c: sub[c] <= overhead for c in children}
        stay: list[int] = []
        if home is not None:
            key = max(children, key=lambda c: (level[c], -c))
            stay.append(key)
            for c in sorted((c for c in children if c != key and is_short[c]), key=lambda c: (-output_bytes[c], c)):
                if len(stay) >= STAY_MAX:
                    break
                stay.append(c)
            for c in stay:
                worker[c] = home
        staying = set(stay)
        longs = [c for c in children if c not in staying and not is_short[c]]
        shorts = sorted((c for c in children if c not in staying and is_short[c]), key=lambda c: (-output_bytes[c], c))
        groups: list[list[int]] = []
        while longs and len(shorts) >= 2:
            groups.append([longs.pop(0), shorts.pop(0), shorts.pop(0)])
        while shorts:
            groups.append(shorts[:3])
            shorts = shorts[3:]
        groups.extend([c] for c in longs)
        room = None if width is None else width - (home is not None)
        if room is not None and len(groups) > room:
            homed, groups = _within([c for g in groups for c in g], room, home is not None, sub, stay)
            if home is not None:
                for c in homed:
                    worker[c] = home
        for group in groups:
            w = next(counter)
            for c in group:
                worker[c] = w

    siblings: dict[tuple[int, ...], list[int]] = {}
    for i in range(dag.n):
        if len(dag.ups[i]) > 1:
            siblings.setdefault(dag.ups[i], []).append(i)
    spread(dag.roots(), None, startup_s)
    for i in range(dag.n):
        if worker[i] < 0:
            group = siblings[dag.ups[i]]
            key = max(group, key=lambda c: (critical[c], level[c], -c))
            home = _fan_in_worker(dag, key, worker, critical, arrival, output_bytes)
            if len(group) == 1:
                worker[i] = home
            else:
                spread(group, home, startup_s + sum(fetch_s[u] for u in dag.ups[i]))
        spread([c for c in dag.downs[i] if len(dag.ups[c]) == 1], worker[i], startup_s + fetch_s[i])
    return _renumber(worker)


def _within(
    children: list[int], room: int, has_home: bool, sub: list[float], stay: list[int]
) -> tuple[list[int], list[list[int]]]:
    """``children`` dealt onto ``room`` new workers and the home worker (when there is one, already
    holding ``stay``), longest exclusive work first onto the least loaded (ties: home, then the first
    new one): more siblings at once than the cores only share them, each start-up costs, and data
    that stays in one worker is not copied. Returns (those for home, the new workers' groups)."""
    loads = ([sum(sub[c] for c in stay)] if has_home else []) + [0.0] * room
    bins: list[list[int]] = [[] for _ in loads]
    for c in sorted(children, key=lambda c: (-sub[c], c)):
        k = min(range(len(loads)), key=lambda b: (loads[b], b))
        bins[k].append(c)
        loads[k] += sub[c]
    news = bins[1:] if has_home else bins
    return (bins[0] if has_home else []), [b for b in news if b]


def _fan_in_worker(
    dag: Dag, i: int, worker: list[int], critical: list[bool], arrival: list[float], output_bytes: list[int]
) -> int:
    ups = dag.ups[i]
    if critical[i]:
        return worker[max(ups, key=lambda u: (arrival[u], -u))]
    by_worker: dict[int, int] = {}
    latest: dict[int, float] = {}
    for u in ups:
        w = worker[u]
        by_worker[w] = by_worker.get(w, 0) + output_bytes[u]
        latest[w] = max(latest.get(w, 0.0), arrival[u])
    first_seen = {w: k for k, w in reversed(list(enumerate(worker[u] for u in ups)))}
    return max(by_worker, key=lambda w: (by_worker[w], latest[w], -first_seen[w]))


def _renumber(worker: list[int]) -> list[int]:
    """Ids in order of first appearance in structural order (stable under renaming)."""
    seen: dict[int, int] = {}
    return [seen.setdefault(w, len(seen)) for w in worker]
