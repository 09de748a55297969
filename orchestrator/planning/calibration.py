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
typical makespan times the N-th percentile of the recent residuals, fitted
robustly (``factor``) — so a new run, as alike to them as they are to each
other, finishes within the promise with probability about N %. Weights halve every ``HALF_LIFE`` runs into the
past: a machine drifts, and the first runs of a workflow were predicted from
thin history. ``average`` is the typical makespan times the residuals'
weighted mean. Before ``MIN_RUNS``, the Monte Carlo percentile is the promise.
A plan that starts no process is calibrated by the past runs whose replays
started none, once there are ``MIN_RUNS`` of them (``evaluate.Planning.factor_for``):
start-ups are where the timing model errs most.

A past run's typical makespan is not the one its own plan recorded: the
planner *replays* each past plan (its placement, the processes it found warm,
its yields) with today's predictor (``PastRun``; ``evaluate.Planning``).
Predictions improve as history grows, and a residual against a prediction
made from thin or unrelated history (the first runs with new inputs) would
otherwise inflate every later promise (measured: 4x on image_transformer after
its size changed). Only runs with the same inputs as the new run count.
Nothing here touches a database: the service layer reads the runs (bounded:
the latest ``WINDOW``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence, cast

from orchestrator.core.sla import SLA

MIN_RUNS = 5
WINDOW = 30
HALF_LIFE = 5.0
MAD_TO_SIGMA = 1.4826
MAD_EFFICIENCY = 0.37  # a MAD spread from n runs is as sure as a standard deviation from 0.37 n


@dataclass(frozen=True)
class PastRun:
    """A finished run of the same workflow and inputs, as its plan laid it out."""

    makespan_s: float
    placement: Mapping[str, tuple[str, int]]  # node id → (logical worker, memory MB)
    warm_processes: tuple[tuple[int, float], ...] = ()
    pool_processes: tuple[tuple[int, int], ...] = ()
    yield_before: frozenset[str] = field(default_factory=frozenset)
    annotations: Mapping[str, dict] = field(default_factory=dict)  # node id → its optimizations
    cores: float | None = None  # the capacity its plan assumed (None: not recorded, today's is used)


def summary(residuals: Sequence[float]) -> dict:
    """Median and 10th–90th percentiles of residuals (observed ÷ typical), for reports and the
    run page: near 1 when the timing model explains the runs; {"n": 0} without residuals."""
    usable = sorted(r for r in residuals if r > 0 and math.isfinite(r))
    if not usable:
        return {"n": 0}
    return {
        "n": len(usable),
        "median": round(weighted_quantile(usable, 50), 4),
        "p10": round(weighted_quantile(usable, 10), 4),
        "p90": round(weighted_quantile(usable, 90), 4),
    }


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
    prev_pos: float | None = None
    prev_val = 0.0  # read only once prev_pos is set
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
    """What to multiply the typical makespan by; None while there are too few residuals.

    ``pN``: residuals are treated as log-normal around a robust centre — the weighted median of
    their logs, with a spread from their weighted median absolute deviation (× 1.4826, the normal
    scale) widened as a prediction interval from n runs is (Student's t, √(1 + 1/n)) — and the
    promise is its N-th percentile. Ten or twenty runs cannot place an empirical 90th percentile: it is their largest
    value, so one early run slowed by first-time process start-ups (measured: 1.6× the typical
    makespan on image_transformer) would lift every later promise by half. Median and MAD shrug
    that run off while following a workflow whose runs really do spread.
    """
    usable = [r for r in residuals if r > 0 and math.isfinite(r)][-WINDOW:]
    if len(usable) < MIN_RUNS:
        return None
    w = weights(len(usable))
    if sla.is_average:
        return sum(r * x for r, x in zip(usable, w)) / sum(w)
    logs = [math.log(r) for r in usable]
    centre = weighted_quantile(logs, 50, w)
    spread = MAD_TO_SIGMA * weighted_quantile([abs(v - centre) for v in logs], 50, w)
    n = sum(w) ** 2 / sum(x * x for x in w)  # the effective number of runs
    t = student_t(cast(int, sla.percentile) / 100, max(1.0, MAD_EFFICIENCY * (n - 1)))  # not the average
    return math.exp(centre + t * spread * math.sqrt(1 + 1 / n))


def student_t(q: float, dof: float) -> float:
    """Student's t quantile at probability ``q``: the spread is itself estimated from few runs, so the
    promise widens as a prediction interval does. Exact (scipy): a series in 1/dof under-widens badly at
    the few degrees of freedom a new workflow has (at 1.5, p99 would be 7.35 instead of 11.2)."""
    # Imported here: ~0.2 s that worker processes, which never calibrate, need not pay at start-up
    # (scipy.special alone; scipy.stats would take four times as long).
    from scipy.special import stdtrit

    return float(stdtrit(dof, q))
