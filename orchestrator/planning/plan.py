"""The Plan: plain, JSON-serialisable output of every planner.

Per task: resource configuration, logical worker (None = flexible, WUKONG
style), optimization annotations and predicted timings. Per plan: critical
path, predicted makespan at the SLA (and the per-task-percentile estimate,
kept for calibration studies), predicted GB-seconds, sample counts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class TaskPlan:
    node_id: str
    memory_mb: int
    worker: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    startup: str = "unknown"  # cold / warm / none / unknown
    startup_s: float | None = None
    download_s: float | None = None
    exec_s: float | None = None
    upload_s: float | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    earliest_start_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    upload: bool | None = None


@dataclass
class Plan:
    planner: str
    sla: str
    tasks: dict[str, TaskPlan]
    fallback: bool = False
    note: str = ""
    critical_path: list[str] = field(default_factory=list)
    predicted_makespan_s: float | None = None  # the promise at the SLA
    predicted_makespan_per_task_s: float | None = None
    predicted_median_s: float | None = None  # typical makespan (median task times): residuals' base
    monte_carlo_s: float | None = None  # Monte Carlo at the SLA before calibration
    calibration: dict[str, Any] = field(default_factory=dict)
    predicted_gb_seconds: float | None = None
    sample_counts: dict[str, Any] = field(default_factory=dict)
    planning_time_s: float | None = None
    # What the simulation assumed, so a later planner can replay this plan with better predictions
    # (``calibration``): processes warm at the start as [memory_mb, seconds since], live pool
    # processes as [memory_mb, count], yielded tasks.
    warm_processes: list[list[float]] = field(default_factory=list)
    pool_processes: list[list[int]] = field(default_factory=list)
    yield_before: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tasks"] = {nid: asdict(tp) for nid, tp in self.tasks.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        names = {f.name for f in fields(TaskPlan)}
        tasks = {nid: TaskPlan(**{k: v for k, v in tp.items() if k in names}) for nid, tp in data["tasks"].items()}
        plan_names = {f.name for f in fields(cls)}
        rest = {k: v for k, v in data.items() if k in plan_names and k != "tasks"}
        return cls(tasks=tasks, **rest)

    def compact(self) -> dict:
        """What workers need at run time, small enough to cache in Redis.

        ``n`` marks a task planned to begin a new branch of its worker (after
        a start-up): a branch of that worker does not wait for it, it leaves
        the inputs behind and lets whoever completes the last one dispatch it.
        """
        out = {}
        for nid, tp in self.tasks.items():
            entry = {"m": tp.memory_mb, "w": tp.worker, "a": tp.annotations, "s": tp.start_s, "e": tp.end_s}
            if tp.worker is not None and tp.startup in ("cold", "warm"):
                entry["n"] = 1
            out[nid] = entry
        return out

    def workers(self) -> dict[str, list[str]]:
        """Logical worker id → its tasks (flexible tasks excluded)."""
        out: dict[str, list[str]] = {}
        for nid, tp in self.tasks.items():
            if tp.worker is not None:
                out.setdefault(tp.worker, []).append(nid)
        return out
