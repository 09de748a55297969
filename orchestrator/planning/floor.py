"""The physical floor: no promise below what the machine can do.

Whatever history, run factors or calibration say, a run cannot finish
sooner than

* its *critical CPU path*: the longest path through the DAG where each task
  weighs its measured CPU seconds at its configuration's CPU speed
  (``cpu_s / min(1 core, cpus)``: a single-threaded task never computes
  faster than one core, nor faster than its quota) — the chain of work that
  must happen one after the other;
* its *total CPU over the cores*: every task's CPU seconds divided by the
  cores the plan assumes the hosts have (``PlannerConfig.cores``; no bound
  when None, as on FaaS).

The floor is the larger of the two. Every promise a plan records (its own
SLA's and the p50/p90/p95 ones) is clamped to at least the floor, and the
plan's note says so when the clamp acted: a promise below it would be
impossible, not optimistic. CPU seconds are the medians of the related
samples that measured their CPU (``Predictor.cpu_seconds``); a task without
such samples (it sleeps, or its quota was not enforced) weighs 0, so the
floor never rises above what was measured. ::

    >>> from orchestrator.planning.dag import Dag
    >>> d = Dag(ids=("a", "b", "c"), fn=("f", "f", "f"), ups=((), (0,), (0,)), downs=((1, 2), (), ()), sink=1)
    >>> f = of(d, cpu_s=[1.0, 2.0, 2.0], speed=[1.0, 1.0, 1.0], cores=1.0)
    >>> f.path_s, f.total_s, f.value       # a → b is 3 s, but one core must do 5 s of work
    (3.0, 5.0, 5.0)
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.planning.dag import Dag
from orchestrator.planning.plan import Plan

# A promise this close to the floor is left alone: rounding, not physics.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Floor:
    path_s: float  # the critical CPU path at the tasks' CPU speeds
    total_s: float  # all tasks' CPU seconds over the cores (0 without a capacity)
    path: tuple[str, ...] = ()

    @property
    def value(self) -> float:
        return max(self.path_s, self.total_s)

    def to_dict(self) -> dict:
        return {
            "seconds": round(self.value, 6),
            "critical_cpu_path_s": round(self.path_s, 6),
            "total_cpu_over_cores_s": round(self.total_s, 6),
            "path": list(self.path),
        }


def of(dag: Dag, *, cpu_s: list[float], speed: list[float], cores: float | None) -> Floor:
    """The floor of ``dag`` with ``cpu_s[i]`` CPU seconds per task run at ``speed[i]`` cores."""
    n = dag.n
    weight = [max(c, 0.0) / s if s > 0 else 0.0 for c, s in zip(cpu_s, speed)]
    longest = [0.0] * n
    via = [-1] * n
    for i in range(n):  # ``dag`` is in topological order
        best = -1
        for u in dag.ups[i]:
            if best < 0 or longest[u] > longest[best]:
                best = u
        longest[i] = weight[i] + (longest[best] if best >= 0 else 0.0)
        via[i] = best
    end = max(range(n), key=longest.__getitem__) if n else -1
    path = []
    while end >= 0:
        path.append(dag.ids[end])
        end = via[end]
    total = sum(max(c, 0.0) for c in cpu_s) / cores if cores else 0.0
    return Floor(path_s=max(longest, default=0.0), total_s=total, path=tuple(reversed(path)))


def clamp(plan: Plan, floor: Floor) -> bool:
    """Raise every promise ``plan`` records to at least ``floor``; True when one moved (the note says so).
    ``plan.floor`` keeps the floor either way."""
    value = round(floor.value, 6)
    plan.floor = floor.to_dict()
    moved = []
    if plan.predicted_makespan_s is not None and plan.predicted_makespan_s < value - TOLERANCE:
        moved.append(f"{plan.sla} {plan.predicted_makespan_s:.2f}")
        plan.predicted_makespan_s = value
    for sla, promise in list(plan.promises.items()):
        if promise < value - TOLERANCE:
            moved.append(f"{sla} {promise:.2f}")
            plan.promises[sla] = value
    plan.floor["clamped"] = bool(moved)
    if moved:
        plan.note += (
            f"; promise raised to the physical floor {value:.2f} s (critical CPU path "
            f"{floor.path_s:.2f} s, total CPU over the cores {floor.total_s:.2f} s; "
            f"the model said {', '.join(moved)} s)"
        )
    return bool(moved)
