"""How much the sharing of a host's cores slowed each task of a past run.

History's task times are what the tasks took *in their run*: a CPU-bound task
that ran beside five others on two cores took about three times its
uncontended time. The timing model adds the contention of the plan at hand
(``sharing``), so it needs uncontended times; this module estimates, for
every task of a finished run, the factor its contention stretched it by —
the inverse of the sharing model, from what the run recorded:

* each task used ``cpu_s`` over its busy span, spread evenly: the host's CPU
  load over time is the sum of those rates (one sweep over the spans);
* the cores the others left a task are the host's cores minus the others'
  load over its span, and where the run's tasks wanted more than the cores
  (a task seen computing at half its speed or more wanted all of it), at most
  its fair part of them; its CPU-bound part ran at min(its CPU speed, that
  share) — never slower than it was seen to compute;
* its uncontended time keeps the part that was not computing and runs the
  computing part at its CPU speed. ::

    two CPU-bound tasks, one core, 2 s each     →  stretch 2 each (1 s alone)
    one CPU-bound task alone                     →  1
    a task sleeping beside CPU-bound ones        →  1 (it used no CPU)

Load the run's own tasks did not cause (other programs on the host) is not
seen and stays in the times, as the run factors expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    start_s: float
    end_s: float
    busy_s: float  # the task's time apart from transfers, the history's exec sample
    cpu_s: float | None
    speed: float  # cores its CPU-bound part uses uncontended (its configuration's CPU speed)


def stretches(spans: list[Span], cores: float) -> list[float]:
    """Per span (one host's tasks of one run), observed busy time over its uncontended estimate (≥ 1)."""
    if not spans:
        return []
    if not cores > 0:
        raise ValueError(f"cores must be positive, got {cores!r}")
    s = np.array([x.start_s for x in spans], dtype=float)
    e = np.maximum(np.array([x.end_s for x in spans], dtype=float), s)
    cpu = np.array([x.cpu_s or 0.0 for x in spans], dtype=float)
    busy = np.array([x.busy_s for x in spans], dtype=float)
    speed = np.array([x.speed for x in spans], dtype=float)
    length = e - s
    rate = np.where(length > 0, cpu / np.where(length > 0, length, 1.0), 0.0)
    safe = np.where(length > 0, length, 1.0)
    # The others' CPU use over each span: cores they left free.
    others = np.maximum(_over_spans(s, e, rate) - rate * length, 0.0) / safe
    free = cores - np.where(length > 0, others, 0.0)
    # The others' demand over each span: a task seen computing at half its speed or more wanted a
    # core of it (load the run did not cause hides the rest); beyond the cores, a task got its fair
    # part of them, whatever the others managed to use.
    demand = np.minimum(speed, 2 * rate)
    wanted = np.maximum(_over_spans(s, e, demand) - demand * length, 0.0) / safe
    crowded = demand + wanted > cores
    fair = np.where(crowded, cores * demand / np.where(demand + wanted > 0, demand + wanted, 1.0), speed)
    seen = np.where(busy > 0, cpu / np.where(busy > 0, busy, 1.0), 0.0)
    ran_at = np.minimum(speed, np.maximum(np.minimum(free, fair), seen))
    computing = np.minimum(np.where(ran_at > 0, cpu / np.where(ran_at > 0, ran_at, 1.0), 0.0), busy)
    alone = busy - computing + np.minimum(cpu / speed, busy)
    out = np.where((alone > 0) & (busy > 0), busy / np.where(alone > 0, alone, 1.0), 1.0)
    return [float(x) for x in np.maximum(out, 1.0)]


def _over_spans(s: np.ndarray, e: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """For every span, the integral over it of the summed rates of all spans (a step function that
    changes at starts and ends, so its integral is piecewise linear: one sweep)."""
    points = np.concatenate([s, e])
    deltas = np.concatenate([rate, -rate])
    order = np.argsort(points, kind="stable")
    points, deltas = points[order], deltas[order]
    level = np.cumsum(deltas)
    integral = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(points))])
    return np.interp(e, points, integral) - np.interp(s, points, integral)
