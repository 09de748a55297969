"""Processor sharing: a host's cores divided among the tasks executing on it.

Every pool process runs under its configuration's CPU quota, but the quotas
of all processes alive on a host can add up to more than its cores (18
processes of up to 1.14 CPUs each on a 2-core machine, locally). While the
tasks executing at a moment want no more than the cores, each runs as if
alone; beyond that the cores are shared max-min fairly (water-filling: a
task that wants less than an equal share keeps what it wants, the others
split the rest), as the kernel's fair scheduler does with one cgroup per
process.

A task's *demand* is the cores it uses while it executes uncontended (its
measured CPU share × the configuration's CPU speed; 0 for a task that sleeps
or waits). Given ``alloc`` cores of its ``demand``, it progresses at
``alloc / demand`` of its uncontended speed: its CPU-bound part runs at
min(its quota, its share of the cores) and a task that barely computes is
barely slowed.

Event-driven and cheap: rates change only when a task starts or finishes
executing, and while total demand fits the cores nothing is recomputed — a
plan on an idle host costs what it did before sharing was modelled. ::

    >>> c = Cores(1.0)
    >>> c.start(0, 0.0, work=1.0, demand=1.0)
    [(0, 1.0)]
    >>> c.start(1, 0.0, work=1.0, demand=1.0)       # two CPU-bound tasks, one core: each at half speed
    [(0, 2.0), (1, 2.0)]
"""

from __future__ import annotations

EPS = 1e-12


class Cores:
    """The cores of one host and the tasks executing on them.

    Each task's progress is kept as (uncontended seconds left at ``mark``, rate since ``mark``):
    a start or finish that leaves every rate as it was touches no other task.
    """

    __slots__ = ("cores", "left", "mark", "demand", "rate", "load", "saturated")

    def __init__(self, cores: float):
        if not cores > 0:
            raise ValueError(f"cores must be positive, got {cores!r}")
        self.cores = float(cores)
        self.left: dict[int, float] = {}
        self.mark: dict[int, float] = {}
        self.demand: dict[int, float] = {}
        self.rate: dict[int, float] = {}
        self.load = 0.0  # total demand of the executing tasks
        self.saturated = False

    def start(self, i: int, t: float, *, work: float, demand: float) -> list[tuple[int, float]]:
        """Task ``i`` begins ``work`` uncontended seconds at ``t``; returns (task, new finish time)
        for every task whose finish moved, ``i`` included."""
        self.left[i] = max(work, 0.0)
        self.mark[i] = t
        self.demand[i] = max(demand, 0.0)
        self.rate[i] = 1.0
        self.load += self.demand[i]
        return self._reshare(t, also=i)

    def finish(self, i: int, t: float) -> list[tuple[int, float]]:
        """Task ``i`` is done executing at ``t``; returns the tasks whose finish moved."""
        self.load -= self.demand.pop(i)
        del self.left[i], self.mark[i], self.rate[i]
        if not self.left:
            self.load = 0.0  # no drift from repeated float sums
        return self._reshare(t, also=None)

    def _reshare(self, t: float, also: int | None) -> list[tuple[int, float]]:
        was = self.saturated
        self.saturated = self.load > self.cores + EPS
        if not was and not self.saturated:  # everyone at full speed, before and after
            return [] if also is None else [(also, t + self.left[also])]
        new = self._rates() if self.saturated else dict.fromkeys(self.rate, 1.0)
        moved = []
        left, mark, rate = self.left, self.mark, self.rate
        for j, r in new.items():
            if j == also or abs(r - rate[j]) > EPS:
                left[j] = max(left[j] - rate[j] * (t - mark[j]), 0.0)
                mark[j], rate[j] = t, r
                moved.append((j, t + left[j] / r))
        return moved

    def _rates(self) -> dict[int, float]:
        """Max-min fair shares of the cores (water-filling), as speeds relative to each demand."""
        rates = {}
        left, k = self.cores, 0
        wanting = []
        for j, d in self.demand.items():
            if d <= EPS:
                rates[j] = 1.0
            else:
                wanting.append((d, j))
                k += 1
        wanting.sort()
        for n, (d, j) in enumerate(wanting):
            share = left / (k - n)
            if d <= share:
                rates[j] = 1.0
                left -= d
            else:
                for d2, j2 in wanting[n:]:
                    rates[j2] = share / d2
                break
        return rates
