"""Never worse than no plan: a predictive plan against the WUKONG placement on the same model.

Not planning is always an option: flexible workers (WUKONG) on the default
configuration, whose executors the model places with ``planning.flexible``.
After a predictive planner has made its plan, ``choose`` evaluates that
flexible placement in the same ``Planning`` session — the same predictions,
cores, start-ups, Monte Carlo and calibration — and keeps

* the flexible run when it is **faster at equal cost**: its typical makespan
  shorter by more than ``NOISE`` and its expected GB-seconds at most
  ``COST_SLACK`` above the plan's;
* the flexible run when it is **cheaper within the SLA**: its GB-seconds
  lower by more than ``NOISE`` and its promise no later than the plan's;
* the plan otherwise.

Either way the plan's note says which was kept and the other's figures
(``Plan.versus_flexible`` keeps them as data). A kept flexible run is a
flexible plan — every task ``worker`` None, so the runtime runs it as WUKONG
does — that promises with the simulated placement (each task's
``sim_worker``, which calibration replays). ::

    >>> Side(typical_s=10.0, promise_s=12.0, gb_s=5.0).beats(Side(typical_s=20.0, promise_s=24.0, gb_s=5.2))
    'faster at equal cost'
    >>> Side(typical_s=10.0, promise_s=12.0, gb_s=9.0).beats(Side(typical_s=20.0, promise_s=24.0, gb_s=5.0)) is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.planning import flexible
from orchestrator.planning.evaluate import TYPICAL, Planning
from orchestrator.planning.plan import Plan, TaskPlan
from orchestrator.planning.predictor import PredictionError

NOISE = 0.03  # a makespan or cost this close is the same one: no flip on the model's rounding
COST_SLACK = 0.10  # "equal cost": the faster run may cost this much more (relative)
TIMING_FIELDS = (
    "startup",
    "startup_s",
    "download_s",
    "exec_s",
    "upload_s",
    "input_bytes",
    "output_bytes",
    "earliest_start_s",
    "start_s",
    "end_s",
)
PLAN_FIELDS = (
    "critical_path",
    "predicted_makespan_s",
    "predicted_makespan_per_task_s",
    "predicted_median_s",
    "monte_carlo_s",
    "calibration",
    "predicted_gb_seconds",
    "sample_counts",
    "warm_processes",
    "pool_processes",
    "promises",
    "floor",
    "capacity",
)


@dataclass(frozen=True)
class Side:
    typical_s: float
    promise_s: float
    gb_s: float

    @classmethod
    def of(cls, plan: Plan) -> "Side | None":
        median, makespan, gb_s = plan.predicted_median_s, plan.predicted_makespan_s, plan.predicted_gb_seconds
        if median is None or makespan is None or gb_s is None:
            return None
        return cls(median, makespan, gb_s)

    def beats(self, other: "Side") -> str | None:
        """Why this side should be kept over ``other`` (None: it should not)."""
        if self.typical_s < other.typical_s * (1 - NOISE) and self.gb_s <= other.gb_s * (1 + COST_SLACK):
            return "faster at equal cost"
        if self.gb_s < other.gb_s * (1 - NOISE) and self.promise_s <= other.promise_s:
            return "cheaper within the SLA"
        return None

    def to_dict(self) -> dict:
        return {
            "typical_s": round(self.typical_s, 6),
            "promise_s": round(self.promise_s, 6),
            "gb_seconds": round(self.gb_s, 6),
        }


def flexible_plan(
    s: Planning,
    memory_mb: int,
    note: str,
    *,
    cluster_min_bytes: int | None = None,
    max_fanout: int = 1,
    delay_s: float = 0.0,
) -> Plan:
    """A flexible plan (every task's ``worker`` None) on ``memory_mb`` whose timings and promise come
    from where its executors would run each task (``flexible.place``), evaluated like any plan.
    Raises ``PredictionError`` when history cannot say."""
    dag, sizes, p = s.dag, s.sizes, s.predictor
    run_time = [
        p.exec_time(dag.fn[i], memory_mb, sizes.input_bytes[i], TYPICAL) + p.post_time(dag.fn[i], memory_mb, TYPICAL)
        for i in range(dag.n)
    ]
    worker = flexible.place(
        dag,
        run_time=run_time,
        output_bytes=sizes.output_bytes,
        executors=s.config.executors or s.config.pool_size or flexible.DEFAULT_EXECUTORS,
        cluster_min_bytes=cluster_min_bytes,
        max_fanout=max_fanout,
        delay_s=delay_s,
    )
    ev = s.evaluate(worker, [memory_mb] * (max(worker) + 1))
    simulated = s._build_plan(ev, worker, note)
    out = Plan(
        planner=s.config.planner,
        sla=str(s.sla),
        note=note,
        tasks={nid: TaskPlan(node_id=nid, memory_mb=memory_mb, worker=None) for nid in dag.ids},
    )
    for nid, tp in simulated.tasks.items():
        mine = out.tasks[nid]
        for name in TIMING_FIELDS:
            setattr(mine, name, getattr(tp, name))
        mine.sim_worker = tp.worker
    for name in PLAN_FIELDS:
        setattr(out, name, getattr(simulated, name))
    out.note = simulated.note + f"; promise from {max(worker) + 1} simulated executors"
    out.set_uploads(s.graph)
    return out


def choose(s: Planning, plan: Plan) -> Plan:
    """``plan``, or the flexible (WUKONG) run on the default configuration when that is faster at
    equal cost or cheaper within the SLA (see the module); the note says which and why."""
    mine = Side.of(plan)
    if mine is None or not s.config.compare_flexible:
        return plan
    memory_mb = s.config.default_memory_mb
    try:
        alt = flexible_plan(s, memory_mb, f"{s.config.planner}: flexible workers (WUKONG) on {memory_mb} MB")
    except PredictionError:
        return plan
    theirs = Side.of(alt)
    if theirs is None:
        return plan
    why = theirs.beats(mine)
    record = {
        "planned": mine.to_dict(),
        "flexible": theirs.to_dict(),
        "kept": "flexible" if why else "planned",
        "reason": why or "not faster at equal cost, nor cheaper within the SLA",
    }
    if why:
        alt.versus_flexible = record
        alt.note += (
            f"; kept over the planned layout ({why}: typical {theirs.typical_s:.2f} s vs "
            f"{mine.typical_s:.2f} s, {theirs.gb_s:.2f} vs {mine.gb_s:.2f} GB-s)"
        )
        return alt
    plan.versus_flexible = record
    plan.note += (
        f"; kept over WUKONG (typical {mine.typical_s:.2f} s vs {theirs.typical_s:.2f} s, "
        f"{mine.gb_s:.2f} vs {theirs.gb_s:.2f} GB-s)"
    )
    return plan
