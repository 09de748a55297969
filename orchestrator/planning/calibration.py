"""Keeping the promise honest with what this workflow's past runs showed.

Monte Carlo over the DAG gives the shape of the completion-time distribution
from per-task samples, but it cannot know everything that makes whole runs
faster or slower together (the machine's load, Redis and database latency, the
broker), and drawing every task independently from skewed samples inflates
its centre (measured: +20-30 % on image_transformer, while the plan simulated
with median task times was within 5 %). So every plan records its *typical*
makespan (the point simulation with median task times; ``predicted_median_s``)
and every run the ratio

    residual = observed makespan / typical makespan

Once a workflow has ``MIN_RUNS`` such residuals, the promise at ``pN`` is the
typical makespan times the weighted N-th percentile of the recent residuals
(with the finite-sample correction of conformal prediction) — so a new run,
as alike to them as they are to each other, finishes within the promise with
probability about N %. Weights halve every ``HALF_LIFE`` runs into the
past: a machine drifts, and the first runs of a workflow were predicted from
thin history. ``average`` is the typical makespan times the residuals'
weighted mean. Before ``MIN_RUNS``, the Monte Carlo percentile is the promise.

Residuals are plain numbers the service layer reads from stored runs
(bounded: the latest ``WINDOW``); nothing here touches a database.
"""
from __future__ import annotations

import math
from typing import Sequence

from orchestrator.sla import SLA

MIN_RUNS = 5
WINDOW = 30
HALF_LIFE = 5.0


def weights(n: int, half_life: float | None = None) -> list[float]:
    """Weights of ``n`` values, oldest first; the newest weighs 1."""
    half_life = HALF_LIFE if half_life is None else half_life
    return [0.5 ** ((n - 1 - i) / half_life) for i in range(n)]


def weighted_quantile(values: Sequence[float], percentile: float, w: Sequence[float] | None = None) -> float:
    """The ``percentile`` of weighted values, interpolating between them.

    Each sorted value sits at the middle of its weight on the cumulative scale (with equal weights,
    the i-th of n at (i - ½)/n), so the estimate is unbiased rather than one step conservative.
    """
    if not values:
        raise ValueError("no values")
    pairs = sorted(zip(values, w if w is not None else [1.0] * len(values)))
    total = sum(x for _, x in pairs)
    q = percentile / 100
    acc = 0.0
    prev_pos, prev_val = None, None
    for value, weight in pairs:
        pos = (acc + weight / 2) / total
        acc += weight
        if q <= pos:
            if prev_pos is None:
                return value
            return prev_val + (value - prev_val) * (q - prev_pos) / (pos - prev_pos)
        prev_pos, prev_val = pos, value
    return pairs[-1][0]


def factor(residuals: Sequence[float], sla: SLA) -> float | None:
    """What to multiply the typical makespan by; None while there are too few residuals."""
    usable = [r for r in residuals if r > 0 and math.isfinite(r)][-WINDOW:]
    if len(usable) < MIN_RUNS:
        return None
    w = weights(len(usable))
    if sla.is_average:
        return sum(r * x for r, x in zip(usable, w)) / sum(w)
    # A new run falls below the k-th of n values with probability k / (n + 1), and the mid-point
    # quantile at q sits at k = q·n + ½: aim at q' = (q·(n + 1) − ½) / n, n the effective count.
    n = sum(w) ** 2 / sum(x * x for x in w)
    q = sla.percentile / 100
    aim = min(1.0, max(0.0, (q * (n + 1) - 0.5) / n))
    return weighted_quantile(usable, 100 * aim, w)
