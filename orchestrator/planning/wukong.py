"""WUKONG: every task on a flexible worker of one configuration; no predictions.

Whoever finishes a task continues with one ready child; the others go to the
run's executors (see store.readiness). ``wukong-opt`` adds task clustering
and delayed I/O (``optimizations.clustering``, its rule handed in as
``config.rules``: ``planning.rules``), decided on each output's size as it is
made, and — once the workflow has history — a promise: where its
executors would run each task is simulated (``planning.flexible``) and that
placement evaluated like a predictive plan's, calibration included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.core.graph import Graph
from orchestrator.planning import guard, rules
from orchestrator.planning.evaluate import Planning, fallback_reason
from orchestrator.planning.plan import Plan, TaskPlan
from orchestrator.planning.predictor import PredictionError, Predictor

if TYPE_CHECKING:
    from orchestrator.planning.config import PlannerConfig


def plan(graph: Graph, predictor: Predictor | None, config: PlannerConfig) -> Plan:
    memory_mb = config.default_memory_mb
    out = Plan(
        planner=config.planner,
        sla=config.sla,
        tasks={nid: TaskPlan(node_id=nid, memory_mb=memory_mb, worker=None) for nid in graph},
        note=f"WUKONG: flexible workers on {memory_mb} MB",
    )
    out.set_uploads(graph)
    if "clustering" in config.optimizations and predictor is not None:
        _promise(out, graph, predictor, config)  # first: the rules then see the predicted output sizes
    annotations = rules.annotate(config, out, graph, predictor, flexible=True)  # config.rules: planning.rules
    for nid, chosen in annotations.items():
        out.tasks[nid].annotations.update(chosen)
    if annotations:
        out.note += f"; {rules.note(config, annotations)}"
    return out


def _promise(out: Plan, graph: Graph, predictor: Predictor, config: PlannerConfig) -> None:
    """Predicted timings and the promise of a flexible plan, from where its executors would run each
    task (``guard.flexible_plan``); recorded as each task's ``sim_worker`` (what a later plan replays).
    Without history: none."""
    reason = fallback_reason(graph, predictor)
    if reason is not None:
        out.note += f"; no promise yet ({reason})"
        return
    params = config.optimization_params.get("clustering", {})
    try:
        planned = guard.flexible_plan(
            Planning(graph, predictor, config),
            config.default_memory_mb,
            out.note,
            cluster_min_bytes=int(params.get("min_bytes", 1 << 20)),
            max_fanout=int(params.get("max_fanout", 8)),
            delay_s=float(params.get("delay_s", 0.5)),
        )
    except PredictionError as exc:
        out.note += f"; no promise ({exc})"
        return
    for nid, tp in planned.tasks.items():
        mine = out.tasks[nid]
        for name in guard.TIMING_FIELDS + ("sim_worker",):
            setattr(mine, name, getattr(tp, name))
    for name in guard.PLAN_FIELDS + ("note",):
        setattr(out, name, getattr(planned, name))
