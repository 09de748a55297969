"""``bench planning``: how long each planner takes to plan a seeded random DAG with synthetic history."""

from __future__ import annotations

import json
import statistics
import time

from django.core.management.base import CommandError

from experiments import benchdata
from experiments.progress import Progress
from orchestrator import planning
from orchestrator.core import sla as sla_mod
from orchestrator.planning.predictor import Predictor
from orchestrator.services import planning as planning_service

NAMES = ("planning",)
REPEAT = 3
HELP = (
    "'planning': plan a seeded random DAG of --tasks tasks with synthetic history and report the planning "
    "time per planner (" + ", ".join(planning.names()) + ")."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("planning")
    g.add_argument("--tasks", type=int, default=1000)


def run(cmd, opts) -> None:
    opts["seed"] = 1 if opts["seed"] is None else opts["seed"]
    planners = opts["planner"] or ["uniform", "non-uniform"]
    try:
        for p in planners:
            planning.get(p)
        sla = str(sla_mod.parse(opts["sla"]))
        graph = benchdata.random_dag(opts["tasks"], seed=opts["seed"])
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    config = planning_service.planner_config(planners[0], sla)
    history = benchdata.synthetic_history(memory_options=config.memory_options, seed=opts["seed"])
    edges = sum(len(n.upstream) for n in graph.values())
    with Progress(len(planners) * opts["repeat"], enabled=not opts["json"], fallback=cmd.stdout.write) as bar:
        for name in planners:
            _plan_one(cmd, name, sla, graph, history, edges, opts, bar)


def _plan_one(cmd, name, sla, graph, history, edges, opts, bar) -> None:
    cfg = planning_service.planner_config(name, sla)
    times, plan = [], None
    for k in range(opts["repeat"]):
        bar.step(f"{name}: planning {len(graph)} tasks, {k + 1}/{opts['repeat']}")
        t0 = time.perf_counter()
        plan = planning.get(name)(graph, Predictor(history), cfg)  # a fresh predictor: cold caches
        times.append(time.perf_counter() - t0)
    row = {
        "planner": name,
        "sla": sla,
        "tasks": len(graph),
        "edges": edges,
        "seed": opts["seed"],
        "planning_time_s": round(statistics.median(times), 4),
        "times_s": [round(t, 4) for t in times],
        "workers": len(plan.workers()),
        "configs": sorted({tp.memory_mb for tp in plan.tasks.values()}),
        "promise_s": plan.predicted_makespan_s,
        "per_task_estimate_s": plan.predicted_makespan_per_task_s,
        "gb_seconds": plan.predicted_gb_seconds,
    }
    if opts["json"]:
        cmd.stdout.write(json.dumps(row))
    else:
        bar.write(
            f"{name:<12} {row['tasks']} tasks / {edges} edges: planning {row['planning_time_s']:.3f} s "
            f"(runs {', '.join(f'{t:.3f}' for t in times)}), {row['workers']} workers on {row['configs']} MB, "
            f"promise {row['promise_s']} s, {row['gb_seconds']} GB-s"
        )
