"""``bench calibration``: the timing model's error and promise attainment on one workflow, or (``--suite``)
on DAGs generated from WfCommons recipes (``bench.calibration``, ``bench.suite``)."""

from __future__ import annotations

import json
import os

from django.core.management.base import CommandError

from experiments import runner
from experiments.bench import calibration as calibration_bench, wfcommons
from experiments.bench.commands import shared
from orchestrator import cliargs

NAMES = ("calibration",)
REPEAT = 3
HELP = (
    "'calibration': --iterations runs of --workflow in a database without runs of it, then the timing "
    "model's error and the share within the p50/p90 promise over planned runs 2-6, the p90 overshoot over "
    "runs 8-12 and the residuals (observed / typical); --suite: instead, --dags DAGs generated from WfCommons "
    "recipes (CPU-bound and data-heavy, a random --seed printed), each from no history, --iterations runs "
    "under --planner and --wukong-runs WUKONG runs: per DAG the promise error over runs 2-6, p50/p90/p95 "
    "attainment over runs 2-N, the p90 overshoot, planned / wukong and promises below the physical floor, "
    "and a summary against issue 25's targets."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("calibration")
    g.add_argument("--workflow", default="chain_and_stage", help="library workflow (default chain_and_stage)")
    g.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="runs (default 12: figures use runs 2-6 and 8-12; --suite: 21 per DAG, runs 2-21)",
    )
    g.add_argument(
        "--suite",
        action="store_true",
        help="instead of --workflow: DAGs generated from WfCommons recipes (CPU-bound and data-heavy "
        "variants, --wf-tasks jobs, a random --seed printed), each from no history",
    )
    g.add_argument("--dags", type=int, default=4, help="--suite: DAGs (default 4)")
    g.add_argument(
        "--wukong-runs",
        type=int,
        default=3,
        help="--suite: plain WUKONG runs per DAG among the planned ones (default 3)",
    )
    cliargs.add_list_argument(g, "--param", split=cliargs.pairs, metavar="K=V", help="workflow parameters")


def run(cmd, opts) -> None:
    (_suite if opts["suite"] else _one_workflow)(cmd, opts)


def _one_workflow(cmd, opts) -> None:
    opts["iterations"] = 12 if opts["iterations"] is None else opts["iterations"]
    if opts["iterations"] < 1:
        raise CommandError("--iterations must be at least 1")
    planner, sla = shared.planner_and_sla(opts)
    try:
        _, params = runner.library_graph(opts["workflow"], runner.parse_params(opts["param"]))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    with shared.on_cluster(cmd, opts, opts["iterations"]) as bar:
        row = calibration_bench.bench(
            opts["workflow"],
            planner=planner,
            sla=sla,
            iterations=opts["iterations"],
            params=params,
            timeout_s=opts["timeout"],
            progress=bar.step,
        )
    shared.write_rows(cmd, opts, [row], lambda row: _line(row, planner, sla))


def _line(row: dict, planner: str, sla: str) -> str:
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    num = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    return (
        f"{row['workflow']} {planner}/{sla}, {row['runs']} runs: runs {row['early_runs']} typical error median "
        f"{pct(row['early_typical_error_median'])} (spread {row['early_typical_error_spread']}), within p50 "
        f"{pct(row['early_within_p50'])}, within p90 {pct(row['early_within_p90'])}; runs {row['steady_runs']} "
        f"p90 overshoot median {pct(row['steady_p90_overshoot_median'])} (spread "
        f"{row['steady_p90_overshoot_spread']}); residual observed/typical median {num(row['residual_median'])} "
        f"(spread {row['residual_spread']}); median makespan {num(row['makespan_median'])} s; load median "
        f"{num(row['load_median'])}"
    )


def _suite(cmd, opts) -> None:
    from experiments.bench import suite

    runs = 21 if opts["iterations"] is None else opts["iterations"]
    if runs < 2 or opts["dags"] < 1 or opts["wukong_runs"] < 1:
        raise CommandError("--suite needs --iterations ≥ 2, --dags ≥ 1 and --wukong-runs ≥ 1")
    planner, sla = shared.planner_and_sla(opts)
    tasks = shared.task_range(opts["wf_tasks"])
    scale = {}
    if opts["wf_cpu"] is not None or opts["wf_mb"] is not None or opts["wf_max_mb"] is not None:
        cpu = opts["wf_cpu"] if opts["wf_cpu"] is not None else suite.VARIANT_DEFAULTS["cpu"][0]
        mb = opts["wf_mb"] if opts["wf_mb"] is not None else suite.VARIANT_DEFAULTS["data"][1]
        max_mb = opts["wf_max_mb"] if opts["wf_max_mb"] is not None else suite.VARIANT_DEFAULTS["data"][2]
        if min(cpu, mb, max_mb) <= 0:
            raise CommandError("--wf-cpu, --wf-mb and --wf-max-mb must be positive")
        scale = {
            "cpu": (cpu, suite.VARIANT_DEFAULTS["cpu"][1], suite.VARIANT_DEFAULTS["cpu"][2]),
            "data": (cpu / 2, mb, max_mb),
        }
    recipes, seed = shared.recipes_and_seed(opts, list(wfcommons.RECIPES))
    log = shared.log(cmd, opts)
    log(
        f"calibration suite, seed {seed} (replay with --seed {seed}): {opts['dags']} DAGs of {tasks[0]}-{tasks[1]} "
        f"jobs, {runs} {planner}/{sla} runs and {opts['wukong_runs']} wukong runs each; load "
        f"{os.getloadavg()[0]:.2f}"
    )
    try:
        dags = suite.draw(
            seed, dags=opts["dags"], tasks=tasks, recipes=recipes, cores=len(os.sched_getaffinity(0)), scale=scale
        )
    except wfcommons.WfCommonsMissing as exc:
        raise CommandError(str(exc)) from None
    for dag in dags:
        log(f"  DAG {dag.index}: {dag.what}; physical floor {dag.floor_s:.2f} s")
    rows = []
    steps = opts["dags"] * (runs + opts["wukong_runs"])
    with shared.on_cluster(cmd, opts, steps, fallback=cmd.stdout.write) as bar:
        for dag in dags:
            row = suite.run_dag(
                dag,
                planner=planner,
                sla=sla,
                runs=runs,
                wukong_runs=opts["wukong_runs"],
                timeout_s=opts["timeout"],
                progress=bar.step,
            )
            rows.append(row)
            if opts["json"]:
                cmd.stdout.write(json.dumps(row))
            else:
                bar.write(suite.line(row))
    total = suite.summary(rows) | {"seed": seed, "load_after": os.getloadavg()[0]}
    cmd.stdout.write(json.dumps({"summary": total}) if opts["json"] else suite.summary_line(total))
