"""sensor_report: one workflow, three results (several sinks).

           readings              (`n` pseudo-random readings from `seed`)
          /    |    \\
      summary  peaks  histogram   (three sinks: mean/min/max; the `top` highest; counts per bin)

A workflow may end in several tasks: its result maps each sink's id to its
value (``build`` returns them as a dict: the keys name them). Tasks: 1 + 3 + 1
(the task that collects the three values) = 5. ``check`` recomputes all three.
"""

import random

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"n": 500, "top": 3, "bins": 5, "seed": 4}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"n": 1_000_000, "top": 1000, "bins": 1000, "seed": 2**32}


def _readings(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.uniform(0, 100), 3) for _ in range(n)]


@task
def readings(n: int, seed: int) -> list:
    return _readings(n, seed)


@task
def summary(values: list) -> dict:
    return {"mean": round(sum(values) / len(values), 6), "min": min(values), "max": max(values)}


@task
def peaks(values: list, top: int) -> list:
    return sorted(values, reverse=True)[:top]


@task
def histogram(values: list, bins: int) -> list:
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / 100 * bins))] += 1
    return counts


def build(n: int = 500, top: int = 3, bins: int = 5, seed: int = 4):
    if n < 1 or top < 1 or bins < 1:
        raise ValueError(f"sensor_report needs n, top and bins ≥ 1, got n={n} top={top} bins={bins}")
    values = readings(n, seed)
    return {"summary": summary(values), "peaks": peaks(values, top), "histogram": histogram(values, bins)}


def check(result, n: int = 500, top: int = 3, bins: int = 5, seed: int = 4, **_) -> bool:
    values = _readings(n, seed)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / 100 * bins))] += 1
    return isinstance(result, dict) and result == {
        "summary": {"mean": round(sum(values) / len(values), 6), "min": min(values), "max": max(values)},
        "peaks": sorted(values, reverse=True)[:top],
        "histogram": counts,
    }


register(
    LibraryWorkflow(
        "sensor_report", "one workflow, three results (several sinks)", build, check, dict(DEFAULTS), BOUNDS
    )
)
