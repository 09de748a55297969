"""WUKONG: every task on a flexible worker of one configuration; no predictions.

Whoever finishes a task continues with one ready child; the others go to the
run's executors (see workers.readiness). ``wukong-opt`` adds task clustering
and delayed I/O (``optimizations.clustering``), decided on each output's size
as it is made, and — once the workflow has history — a promise: where its
executors would run each task is simulated (``planning.flexible``) and that
placement evaluated like a predictive plan's, calibration included.
"""
from __future__ import annotations

from orchestrator import optimizations
from orchestrator.graph import Graph
from orchestrator.planning import flexible
from orchestrator.planning.evaluate import TYPICAL, Planning, fallback_reason
from orchestrator.planning.plan import Plan, TaskPlan
from orchestrator.planning.predictor import PredictionError


def plan(graph: Graph, predictor, config) -> Plan:
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
    annotations = optimizations.annotate(out, graph, predictor, names=tuple(config.optimizations),
                                         params=config.optimization_params, flexible=True)
    for nid, chosen in annotations.items():
        out.tasks[nid].annotations.update(chosen)
    if annotations:
        out.note += f"; {optimizations.summary(annotations)}"
    return out


def _promise(out: Plan, graph: Graph, predictor, config) -> None:
    """Predicted timings and the promise of a flexible plan, from where its executors would run each
    task; recorded as each task's ``sim_worker`` (what a later plan replays). Without history: none."""
    reason = fallback_reason(graph, predictor)
    if reason is not None:
        out.note += f"; no promise yet ({reason})"
        return
    memory_mb = config.default_memory_mb
    params = config.optimization_params.get("clustering", {})
    try:
        s = Planning(graph, predictor, config)
        dag, sizes = s.dag, s.sizes
        run_time = [predictor.exec_time(dag.fn[i], memory_mb, sizes.input_bytes[i], TYPICAL)
                    + predictor.post_time(dag.fn[i], memory_mb, TYPICAL) for i in range(dag.n)]
        worker = flexible.place(dag, run_time=run_time, output_bytes=sizes.output_bytes,
                                executors=config.pool_size or flexible.DEFAULT_EXECUTORS,
                                cluster_min_bytes=int(params.get("min_bytes", 1 << 20)),
                                max_fanout=int(params.get("max_fanout", 8)),
                                delay_s=float(params.get("delay_s", 0.5)))
        ev = s.evaluate(worker, [memory_mb] * (max(worker) + 1))
        planned = s._build_plan(ev, worker, out.note)
    except PredictionError as exc:
        out.note += f"; no promise ({exc})"
        return
    for nid, tp in planned.tasks.items():
        mine = out.tasks[nid]
        for name in ("startup", "startup_s", "download_s", "exec_s", "upload_s", "input_bytes", "output_bytes",
                     "earliest_start_s", "start_s", "end_s"):
            setattr(mine, name, getattr(tp, name))
        mine.sim_worker = tp.worker
    for name in ("critical_path", "predicted_makespan_s", "predicted_makespan_per_task_s", "predicted_median_s",
                 "monte_carlo_s", "calibration", "predicted_gb_seconds", "sample_counts", "warm_processes",
                 "pool_processes", "promises", "floor", "note"):
        setattr(out, name, getattr(planned, name))
    out.note += f"; promise from {max(worker) + 1} simulated executors"


