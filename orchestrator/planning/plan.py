"""The Plan: plain, JSON-serialisable output of every planner.

Per task: resource configuration, logical worker (None = flexible, WUKONG
style), optimization annotations and predicted timings. Per plan: critical
path, predicted makespan at the SLA (and the per-task-percentile estimate,
kept for calibration studies), predicted GB-seconds, sample counts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from orchestrator.core import startup as startup_kinds
from orchestrator.core.graph import Graph, dependents
from orchestrator.planning import uploads


@dataclass
class TaskPlan:
    node_id: str
    memory_mb: int
    worker: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    startup: str = startup_kinds.UNKNOWN  # a kind of orchestrator.core.startup, NONE or UNKNOWN
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
    # A flexible task's executor in the timing model's simulation (``planning.flexible``): what a later
    # plan replays this one with; the runtime never reads it.
    sim_worker: str | None = None


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
    # The capacity the simulation assumed: {"cores", "source", "contended_tasks", "max_stretch"}
    # (cores None: unlimited; see ``planning.sharing``).
    capacity: dict[str, Any] = field(default_factory=dict)
    # The promise the plan would make at other common SLAs ("p50", "p90", "p95" → seconds), made
    # the same way as ``predicted_makespan_s``.
    promises: dict[str, float] = field(default_factory=dict)
    # The physical floor every promise was held to (``planning.floor``): seconds, its two parts, the
    # critical CPU path, and whether the clamp acted.
    floor: dict[str, Any] = field(default_factory=dict)
    # The predictive plan against the flexible (WUKONG) run on the same model (``planning.guard``):
    # both sides' typical makespan, promise and GB-seconds, which was kept and why.
    versus_flexible: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tasks"}
        data = copy.deepcopy(data)
        # Task plans hold plain values (``asdict`` deep-copied every field of every task: 0.3 s for
        # 1,000 tasks); annotations are shared, not copied — callers serialise, never mutate them.
        # Unset fields are left out (``from_dict`` restores their defaults): half the JSON of a
        # flexible plan.
        data["tasks"] = {
            nid: {k: v for k, v in tp.__dict__.items() if v is not None and v != {}} for nid, tp in self.tasks.items()
        }
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        names = {f.name for f in fields(TaskPlan)}
        tasks = {nid: TaskPlan(**{k: v for k, v in tp.items() if k in names}) for nid, tp in data["tasks"].items()}
        plan_names = {f.name for f in fields(cls)}
        rest = {k: v for k, v in data.items() if k in plan_names and k != "tasks"}
        return cls(tasks=tasks, **rest)

    def new_branch(self, node_id: str) -> bool:
        """Planned to begin a new branch of its worker (after a start-up)."""
        tp = self.tasks[node_id]
        return tp.worker is not None and startup_kinds.begins_branch(tp.startup)

    def set_uploads(self, graph: Graph) -> None:
        """Each task's upload decision from the one rule (``planning.uploads``), now that the
        plan knows which tasks begin new branches."""
        downstream = dependents(graph)
        for nid, tp in self.tasks.items():
            tp.upload = uploads.uploads(
                tp.worker,
                (
                    uploads.Consumer(self.tasks[c].worker, self.new_branch(c), len(graph[c].upstream))
                    for c in downstream[nid]
                ),
            )

    def compact(self, graph: Graph) -> dict:
        """What workers need at run time, small enough to cache in Redis.

        ``n`` marks a task planned to begin a new branch of its worker (after
        a start-up): a branch of that worker does not wait for it, it leaves
        the inputs behind and lets whoever completes the last one dispatch it.
        ``u`` is the upload decision (``set_uploads``).
        """
        if any(tp.upload is None for tp in self.tasks.values()):
            self.set_uploads(graph)
        out = {}
        for nid, tp in self.tasks.items():
            entry: dict[str, Any] = {
                "m": tp.memory_mb,
                "w": tp.worker,
                "u": 1 if tp.upload else 0,
                "s": tp.start_s,
                "e": tp.end_s,
            }
            if tp.annotations:
                entry["a"] = tp.annotations
            if self.new_branch(nid):
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


class Named(Protocol):
    """What a fallback plan records of its ``PlannerConfig`` (named, not imported: the config holds the
    rules, which read plans)."""

    @property
    def planner(self) -> str: ...

    @property
    def sla(self) -> str: ...


def flexible_fallback(graph: Graph, config: Named, memory_mb: int, reason: str) -> "Plan":
    """The plan every planner falls back to without history."""
    out = Plan(
        planner=config.planner,
        sla=config.sla,
        tasks={nid: TaskPlan(node_id=nid, memory_mb=memory_mb, worker=None) for nid in graph},
        fallback=True,
        note=reason,
    )
    out.set_uploads(graph)
    return out
