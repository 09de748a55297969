"""python manage.py bench planning --tasks N [--seed S] [--planner P ...] [--sla S] [--repeat R]"""
from __future__ import annotations

import json
import statistics
import time

from django.core.management.base import BaseCommand, CommandError

from orchestrator import planning, sla as sla_mod
from orchestrator.planning.predictor import Predictor
from orchestrator.services import planning as planning_service
from experiments import benchdata


class Command(BaseCommand):
    help = ("Benchmarks (measured, never asserted by tests). 'planning': plan a seeded random DAG of --tasks "
            "tasks with synthetic history and report the planning time per planner. Planners: "
            + ", ".join(planning.names()) + f" ({planning.OPT_NOTE}).")

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["planning"])
        parser.add_argument("--tasks", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--planner", action="append", default=[],
                            help="planner to time (repeatable; default uniform and non-uniform)")
        parser.add_argument("--sla", default="p90")
        parser.add_argument("--repeat", type=int, default=3, help="plans per planner; the median time is reported")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        planners = opts["planner"] or ["uniform", "non-uniform"]
        try:
            for p in planners:
                planning.get(p)
            sla = str(sla_mod.parse(opts["sla"]))
            graph = benchdata.random_dag(opts["tasks"], seed=opts["seed"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if opts["repeat"] < 1:
            raise CommandError("--repeat must be at least 1")
        config = planning_service.planner_config(planners[0], sla)
        history = benchdata.synthetic_history(memory_options=config.memory_options, seed=opts["seed"])
        edges = sum(len(n.upstream) for n in graph.values())
        for name in planners:
            cfg = planning_service.planner_config(name, sla)
            times, plan = [], None
            for _ in range(opts["repeat"]):
                t0 = time.perf_counter()
                plan = planning.get(name)(graph, Predictor(history), cfg)  # a fresh predictor: cold caches
                times.append(time.perf_counter() - t0)
            row = {
                "planner": name, "sla": sla, "tasks": len(graph), "edges": edges, "seed": opts["seed"],
                "planning_time_s": round(statistics.median(times), 4), "times_s": [round(t, 4) for t in times],
                "workers": len(plan.workers()), "configs": sorted({tp.memory_mb for tp in plan.tasks.values()}),
                "promise_s": plan.predicted_makespan_s, "per_task_estimate_s": plan.predicted_makespan_per_task_s,
                "gb_seconds": plan.predicted_gb_seconds,
            }
            if opts["json"]:
                self.stdout.write(json.dumps(row))
            else:
                self.stdout.write(
                    f"{name:<12} {row['tasks']} tasks / {edges} edges: planning {row['planning_time_s']:.3f} s "
                    f"(runs {', '.join(f'{t:.3f}' for t in times)}), {row['workers']} workers on {row['configs']} MB, "
                    f"promise {row['promise_s']} s, {row['gb_seconds']} GB-s")
