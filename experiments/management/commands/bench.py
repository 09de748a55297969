"""python manage.py bench planning|runtime ...   (measured, never asserted by tests)"""
from __future__ import annotations

import json
import statistics
import time

from django.core.management.base import BaseCommand, CommandError

from orchestrator import cliargs, planning, sla as sla_mod
from orchestrator.planning.predictor import Predictor
from orchestrator.services import planning as planning_service
from experiments import benchdata, runner
from experiments.progress import Progress
from experiments.bench import calibration as calibration_bench, optimizations as opt_bench, resilience, \
    runtime as runtime_bench, workloads


class Command(BaseCommand):
    help = ("Benchmarks (measured, never asserted by tests). "
            "'planning': plan a seeded random DAG of --tasks tasks with synthetic history and report the planning "
            "time per planner (" + ", ".join(planning.names()) + "). "
            "'runtime': run identical graphs on slaflow (WUKONG, flexible workers; a local cluster is started when "
            "no worker serves the queues) and on Dask (distributed LocalCluster of 2 processes x 1 thread, and the "
            "threaded scheduler) and report medians, ratios and the critical path's compute time. Workloads: "
            + "; ".join(f"{w.name} ({w.what}, N={w.size})" for w in workloads.WORKLOADS.values())
            + ". Dask is an optional extra: pip install -e '.[bench]'. 'load': --runs concurrent runs of --run-tasks "
            "tasks from --clients threads (submission latency, all succeeded, total time). 'failures': kill -9 of a "
            "worker mid-run, a hung task's time limit, cancelling hung tasks (needs this machine's local cluster). "
            "'restarts': Redis (with and without its append-only file) and Postgres restarted mid-run, on "
            "private services the bench starts (outcome, time from the restart to the run's end). "
            "'optimizations': each optimization on against off on its scenario workflow (TaskDup: straggler, "
            "PreLoad: scattered_fanin, PreWarm: cold_stage, clustering and delayed I/O: big_fanout, streaming: "
            "big_transfer and stream_pipeline) and the -opt planners against plain ones on tree_reduction and "
            "text_analysis; medians of --repeat pairs after --warmup runs of each. "
            "'calibration': --iterations runs of --workflow in a database without runs of it, then the timing "
            "model's error and the share within the p50/p90 promise over planned runs 2-6, the p90 overshoot over "
            "runs 8-12 and the residuals (observed / typical).")

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["planning", "runtime", "load", "failures", "restarts", "optimizations",
                                             "calibration"])
        parser.add_argument("--json", action="store_true", help="one JSON object per row")
        parser.add_argument("--repeat", type=int, default=None,
                            help="measured runs per planner / workload (after a warm-up for runtime), or on/off pairs "
                                 "per optimization scenario; medians reported (default 3; 5 for optimizations)")
        g = parser.add_argument_group("planning")
        g.add_argument("--tasks", type=int, default=1000)
        g.add_argument("--seed", type=int, default=1)
        cliargs.add_list_argument(g, "--planner", help="planners to time (default uniform and non-uniform)")
        g.add_argument("--sla", default="p90")
        g = parser.add_argument_group("calibration")
        g.add_argument("--workflow", default="chain_and_stage", help="library workflow (default chain_and_stage)")
        g.add_argument("--iterations", type=int, default=12, help="runs (default 12: figures use runs 2-6 and 8-12)")
        cliargs.add_list_argument(g, "--param", split=cliargs.pairs, metavar="K=V", help="workflow parameters")
        g = parser.add_argument_group("load")
        g.add_argument("--runs", type=int, default=50, help="concurrent runs (default 50)")
        g.add_argument("--run-tasks", type=int, default=100, help="tasks per run (default 100)")
        g.add_argument("--clients", type=int, default=50, help="submitting threads (default 50)")
        g = parser.add_argument_group("optimizations")
        cliargs.add_list_argument(g, "--scenario", choices=opt_bench.names(),
                                  help="scenarios to run (default all): " + ", ".join(opt_bench.names()))
        g.add_argument("--warmup", type=int, default=3, help="warm-up runs of each variant first (history)")
        g = parser.add_argument_group("runtime")
        cliargs.add_list_argument(g, "--workload", choices=sorted(workloads.WORKLOADS),
                                  help="workloads to run (default all): " + ", ".join(sorted(workloads.WORKLOADS)))
        cliargs.add_list_argument(g, "--size", split=cliargs.pairs, metavar="WORKLOAD=N",
                                  help="size parameters of workloads, e.g. tree=8192")
        g.add_argument("--no-dask", action="store_true", help="slaflow only")
        g.add_argument("--breakdown", action="store_true", help="where slaflow's time per task went")
        g.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one slaflow run")

    def handle(self, *args, **opts):
        if opts["repeat"] is None:
            opts["repeat"] = 5 if opts["what"] == "optimizations" else 3
        if opts["repeat"] < 1:
            raise CommandError("--repeat must be at least 1")
        if opts["what"] == "planning":
            return self.planning(opts)
        if opts["what"] in ("load", "failures"):
            return self.resilience(opts)
        if opts["what"] == "optimizations":
            return self.optimizations(opts)
        if opts["what"] == "restarts":
            return self.restarts(opts)
        if opts["what"] == "calibration":
            return self.calibration(opts)
        return self.runtime(opts)

    # --- load and failures --------------------------------------------------------------

    def resilience(self, opts):
        log = self.stderr.write if opts["json"] else self.stdout.write
        if opts["what"] == "load" and min(opts["runs"], opts["run_tasks"], opts["clients"]) < 1:
            raise CommandError("--runs, --run-tasks and --clients must be at least 1")
        steps = 2 * opts["runs"] if opts["what"] == "load" else 3
        with runner.cluster_if_needed(log=log), Progress(steps, enabled=not opts["json"]) as bar:
            if opts["what"] == "load":
                rows = [resilience.load(runs=opts["runs"], tasks=opts["run_tasks"], clients=opts["clients"],
                                        progress=bar.step)]
            else:
                rows = resilience.failures(progress=bar.step)
        for row in rows:
            self.stdout.write(json.dumps(row) if opts["json"] else
                              "; ".join(f"{k} {v}" for k, v in row.items()))

    def restarts(self, opts):
        from experiments.bench import restarts

        rows = []
        with Progress(len(restarts.SCENARIOS) * opts["repeat"], enabled=not opts["json"]) as bar:
            for name in restarts.SCENARIOS:
                for _ in range(opts["repeat"]):
                    bar.step(name)
                    rows.append(restarts.scenario(name))
        for row in rows:
            self.stdout.write(json.dumps(row) if opts["json"] else
                              f"{row['scenario']}: {row['status']} (result correct: {row['result_ok']}), "
                              f"restart -> command done {row['restart_to_end_s']} s, makespan {row['makespan_s']}"
                              + (f", error: {row['error']}" if row["error"] else ""))

    # --- calibration ----------------------------------------------------------------------

    def calibration(self, opts):
        if opts["iterations"] < 1:
            raise CommandError("--iterations must be at least 1")
        planner = (opts["planner"] or ["uniform"])[0]
        try:
            planning.get(planner)
            sla = str(sla_mod.parse(opts["sla"]))
            _, params = runner.library_graph(opts["workflow"], runner.parse_params(opts["param"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        log = self.stderr.write if opts["json"] else self.stdout.write
        with runner.cluster_if_needed(log=log), Progress(opts["iterations"], enabled=not opts["json"]) as bar:
            try:
                row = calibration_bench.bench(opts["workflow"], planner=planner, sla=sla,
                                              iterations=opts["iterations"], params=params,
                                              timeout_s=opts["timeout"], progress=bar.step)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from None
        if opts["json"]:
            self.stdout.write(json.dumps(row))
            return
        pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
        num = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        self.stdout.write(
            f"{row['workflow']} {planner}/{sla}, {row['runs']} runs: runs {row['early_runs']} typical error median "
            f"{pct(row['early_typical_error_median'])} (spread {row['early_typical_error_spread']}), within p50 "
            f"{pct(row['early_within_p50'])}, within p90 {pct(row['early_within_p90'])}; runs {row['steady_runs']} "
            f"p90 overshoot median {pct(row['steady_p90_overshoot_median'])} (spread "
            f"{row['steady_p90_overshoot_spread']}); residual observed/typical median {num(row['residual_median'])} "
            f"(spread {row['residual_spread']}); median makespan {num(row['makespan_median'])} s; load median "
            f"{num(row['load_median'])}")

    # --- optimizations ----------------------------------------------------------------------

    def optimizations(self, opts):
        if opts["warmup"] < 0:
            raise CommandError("--warmup must be 0 or more")
        repeat = opts["repeat"]
        log = self.stderr.write if opts["json"] else self.stdout.write
        steps = opt_bench.steps(opts["scenario"], repeat=repeat, warmup=opts["warmup"])
        with runner.cluster_if_needed(log=log), Progress(steps, enabled=not opts["json"]) as bar:
            try:
                rows = opt_bench.bench(opts["scenario"], repeat=repeat, warmup=opts["warmup"], timeout_s=opts["timeout"],
                                       progress=bar.step)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from None
        if opts["json"]:
            for row in rows:
                self.stdout.write(json.dumps(row))
        else:
            self.stdout.write(opt_bench.table(rows))

    # --- runtime ------------------------------------------------------------------------

    def runtime(self, opts):
        names = opts["workload"] or list(workloads.WORKLOADS)
        sizes = {}
        for pair in opts["size"]:
            name, sep, value = pair.partition("=")
            if not sep or name not in workloads.WORKLOADS or not value.isdigit() or int(value) < 2:
                raise CommandError(f"--size {pair!r} must be WORKLOAD=N with N ≥ 2 (workloads: "
                                   f"{', '.join(workloads.WORKLOADS)})")
            sizes[name] = int(value)
        with_dask = not opts["no_dask"]
        if with_dask and not runtime_bench.dask_available():
            raise CommandError("Dask is not installed: pip install -e '.[bench]' (or pass --no-dask)")
        log = self.stderr.write if opts["json"] else self.stdout.write
        steps = runtime_bench.steps(names, repeat=opts["repeat"], with_dask=with_dask)
        with runner.cluster_if_needed(log=log), Progress(steps, enabled=not opts["json"]) as bar:
            rows = runtime_bench.bench(names, repeat=opts["repeat"], sizes=sizes, with_dask=with_dask,
                                       with_breakdown=opts["breakdown"], timeout_s=opts["timeout"],
                                       progress=bar.step)
        if opts["json"]:
            for row in rows:
                self.stdout.write(json.dumps(row.as_json()))
            return
        self.stdout.write(_table([r.as_json() for r in rows]))
        if opts["breakdown"]:
            for r in rows:
                self.stdout.write(f"{r.workload}: ms per task " + ", ".join(f"{k} {v}" for k, v in r.breakdown.items()))

    # --- planning -------------------------------------------------------------------------

    def planning(self, opts):
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
        with Progress(len(planners) * opts["repeat"], enabled=not opts["json"], fallback=self.stdout.write) as bar:
            for name in planners:
                self._plan_one(name, sla, graph, history, edges, opts, bar)

    def _plan_one(self, name, sla, graph, history, edges, opts, bar):
        cfg = planning_service.planner_config(name, sla)
        times, plan = [], None
        for k in range(opts["repeat"]):
            bar.step(f"{name}: planning {len(graph)} tasks, {k + 1}/{opts['repeat']}")
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
            bar.write(
                f"{name:<12} {row['tasks']} tasks / {edges} edges: planning {row['planning_time_s']:.3f} s "
                f"(runs {', '.join(f'{t:.3f}' for t in times)}), {row['workers']} workers on {row['configs']} MB, "
                f"promise {row['promise_s']} s, {row['gb_seconds']} GB-s")


def _table(rows: list[dict]) -> str:
    cols = [("workload", "workload", "{}"), ("tasks", "tasks", "{}"),
            ("slaflow_makespan_s", "slaflow makespan", "{:.3f}"), ("slaflow_wall_s", "slaflow wall", "{:.3f}"),
            ("dask_distributed_s", "dask distributed", "{:.3f}"), ("dask_threaded_s", "dask threaded", "{:.3f}"),
            ("ratio_makespan", "makespan/dd", "{:.2f}"), ("ratio_wall", "wall/dd", "{:.2f}"),
            ("critical_path_s", "crit. path", "{:.3f}"), ("makespan_over_critical_path", "makespan/cp", "{:.2f}"),
            ("results_equal", "equal", "{}")]
    cells = [[title for _, title, _ in cols]]
    for row in rows:
        cells.append([("-" if row[key] is None else fmt.format(row[key])) for key, _, fmt in cols])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("medians over --repeat runs after a warm-up; spreads in --json. wall = submit → result.")
    return "\n".join(lines)
