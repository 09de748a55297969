"""``bench runtime``: slaflow's runtime beside Dask's, on identical graphs, in one invocation.

For each case — a workload (``experiments.bench.workloads``) or a real
workflow shape of the WfCommons family (``experiments.bench.wfcommons``) —
each system runs a warm-up and then ``repeat`` measured runs: slaflow under
each planner asked for (default WUKONG, flexible workers; the first one's runs
give the planned planners their history), Dask distributed (a
``LocalCluster`` of 2 worker processes × 1 thread, started once) and, for the
workloads, Dask's threaded scheduler. Reported per case and planner: medians and spread of
slaflow's makespan (roots dispatched → the result readable: published in the
output store for a big one, stored for a small one) and submit → result wall
time, Dask's wall times, the ratios, the critical path's compute time
(the longest path through the observed exec times of slaflow's median run)
whether every system computed the same result and, where known, the machine
limit (no system can finish sooner: max(the critical path's CPU time, total
CPU / cores)); with ``breakdown``, where slaflow's time per task went.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

from experiments.bench import workloads as wl
from experiments.bench.baseline import digest
from orchestrator.core.graph import Graph, toposort
from orchestrator.handles import RunHandle
from orchestrator.models import TaskRun, WorkerStartup, WorkflowRun
from orchestrator.services.runs import submit_run


class DaskMissing(RuntimeError):
    pass


def dask_available() -> bool:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Case:
    """One graph to run on every system."""

    name: str
    what: str
    graph: Graph
    size: int
    machine_limit_s: float | None = None
    threaded: bool = True  # also on Dask's threaded scheduler
    lower_bound_s: float | None = None  # wfcommons.lower_bound: tighter than the machine limit

    @classmethod
    def workload(cls, name: str, size: int | None = None) -> "Case":
        w = wl.WORKLOADS[name]
        size = w.size if size is None else size
        return cls(name, w.what, w.graph(size), size)


@dataclass
class Row:
    workload: str
    what: str
    tasks: int
    size: int
    planner: str = "wukong"
    machine_limit_s: float | None = None
    lower_bound_s: float | None = None
    slaflow_makespan: list[float] = field(default_factory=list)
    slaflow_wall: list[float] = field(default_factory=list)
    baseline_makespan: list[float] = field(default_factory=list)  # --baseline: another checkout's runs
    baseline_wall: list[float] = field(default_factory=list)
    baseline_equal: bool | None = None
    dask_distributed: list[float] = field(default_factory=list)
    dask_threaded: list[float] = field(default_factory=list)
    critical_path_s: float | None = None
    results_equal: bool = True
    breakdown: dict = field(default_factory=dict)
    run_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict:
        mk, wall = med(self.slaflow_makespan), med(self.slaflow_wall)
        dd, dt = med(self.dask_distributed), med(self.dask_threaded)
        out = {
            "workload": self.workload,
            "what": self.what,
            "tasks": self.tasks,
            "size": self.size,
            "planner": self.planner,
            "machine_limit_s": _r(self.machine_limit_s),
            "ratio_machine_limit": ratio(mk, self.machine_limit_s),
            "lower_bound_s": _r(self.lower_bound_s),
            "ratio_lower_bound": ratio(mk, self.lower_bound_s),
            "slaflow_makespan_s": mk,
            "slaflow_wall_s": wall,
            "dask_distributed_s": dd,
            "dask_threaded_s": dt,
            "ratio_makespan": ratio(mk, dd),
            "ratio_wall": ratio(wall, dd),
            "critical_path_s": _r(self.critical_path_s),
            "makespan_over_critical_path": ratio(mk, self.critical_path_s),
            "overhead_s": _r(wall - mk) if wall is not None and mk is not None else None,
            "results_equal": self.results_equal,
            "spread": {
                name: spread(values)
                for name, values in (
                    ("slaflow_makespan_s", self.slaflow_makespan),
                    ("slaflow_wall_s", self.slaflow_wall),
                    ("dask_distributed_s", self.dask_distributed),
                    ("dask_threaded_s", self.dask_threaded),
                )
            },
            "slaflow_runs": self.run_ids,
        }
        if self.baseline_makespan:
            bm = med(self.baseline_makespan)
            out.update(
                {
                    "baseline_makespan_s": bm,
                    "baseline_wall_s": med(self.baseline_wall),
                    "ratio_baseline": ratio(mk, bm),
                    "ratio_baseline_wall": ratio(wall, med(self.baseline_wall)),
                    "baseline_results_equal": self.baseline_equal,
                }
            )
            out["spread"]["baseline_makespan_s"] = spread(self.baseline_makespan)
            out["spread"]["baseline_wall_s"] = spread(self.baseline_wall)
        if self.breakdown:
            out["breakdown_ms_per_task"] = self.breakdown
        return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def med(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def spread(values: list[float]) -> list[float] | None:
    return [round(min(values), 4), round(max(values), 4)] if values else None


class Systems:
    """Dask's two schedulers, started once per invocation."""

    def __init__(self, with_dask: bool):
        self.client = self.cluster = None
        if with_dask:
            from dask.distributed import Client, LocalCluster

            self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            self.client = Client(self.cluster)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.cluster.close()

    def distributed(self, dsk, key):
        t0 = time.perf_counter()
        value = self.client.get(dsk, key)
        return value, time.perf_counter() - t0

    @staticmethod
    def threaded(dsk, key):
        import dask.threaded

        t0 = time.perf_counter()
        value = dask.threaded.get(dsk, key)
        return value, time.perf_counter() - t0


def split_variant(variant: str) -> tuple[str, list[str] | None]:
    """``planner`` or ``planner+opt+opt``: the planner, and the optimizations it applies by rule (None:
    its own). ``wukong+none`` is WUKONG with none; ``uniform+preload`` the uniform planner with PreLoad only."""
    planner, *opts = variant.split("+")
    if not opts:
        return planner, None
    return planner, [o for o in opts if o != "none"]


def check_variant(variant: str) -> None:
    """A ``--planner`` value's planner and optimizations exist (ValueError naming the bad part)."""
    from orchestrator import optimizations, planning

    planner, opts = split_variant(variant)
    planning.get(planner)
    unknown = [o for o in opts or () if o not in optimizations.NAMES]
    if unknown:
        raise ValueError(
            f"{variant!r}: unknown optimization {unknown[0]!r} (known: {', '.join(optimizations.NAMES)}, or none)"
        )


def run_slaflow(graph, name: str, timeout_s: float, planner: str = "wukong") -> tuple[object, float, int]:
    """Submit and wait: (result, submit → result seconds, run id). ``planner`` may name optimizations
    too (``split_variant``)."""
    t0 = time.perf_counter()
    planner, opts = split_variant(planner)
    run = submit_run(graph=graph, name=name, planner=planner, sla="p90", optimizations=opts)
    handle = RunHandle(run.pk)
    value = handle.result(timeout=timeout_s)  # a big result in hand before the run's durable copy exists
    wall = time.perf_counter() - t0
    handle.wait(timeout=timeout_s)  # the run's end (its makespan is written then), outside the wall time
    return value, wall, run.pk


def critical_path_compute(graph, run_id: int) -> float:
    """The longest root → sink path through the observed exec times."""
    exec_s = dict(TaskRun.objects.filter(run_id=run_id).values_list("node_id", "exec_s"))
    longest: dict[str, float] = {}
    for nid in toposort(graph):
        longest[nid] = max((longest[u] for u in graph[nid].upstream), default=0.0) + float(exec_s.get(nid) or 0.0)
    return max(longest.values())


def breakdown(run_id: int) -> dict:
    """Where a run's time went, in milliseconds per task (sums over the run's tasks, branches and
    its submission and finalization, divided by its task count)."""
    from django.db.models import Count, Sum

    run = WorkflowRun.objects.get(pk=run_id)
    t = TaskRun.objects.filter(run_id=run_id).aggregate(
        n=Count("id"), **{f: Sum(f) for f in ("input_wait_s", "exec_s", "upload_s", "counter_update_s", "dispatch_s")}
    )
    b = WorkerStartup.objects.filter(run_id=run_id).aggregate(delivery=Sum("startup_s"), branches=Count("id"))
    n = t["n"] or 1
    tm = run.timings or {}

    def per_task(*seconds) -> float:
        return round(1000 * sum(float(x or 0.0) for x in seconds) / n, 4)

    return {
        "broker_delivery": per_task(b["delivery"]),
        "lease": per_task(tm.get("branch_lease_s")),
        "run_metadata": per_task(tm.get("branch_context_s")),
        "inputs": per_task(t["input_wait_s"]),
        "execute": per_task(t["exec_s"]),
        "finish_script": per_task(t["upload_s"], t["counter_update_s"]),
        "dispatch_children": per_task(t["dispatch_s"]),
        "metrics_writes": per_task(tm.get("branch_record_s")),
        "submission": per_task(tm.get("validate_s"), tm.get("store_s"), tm.get("dispatch_s")),
        "planning": per_task(tm.get("plan_s")),
        "finalize": per_task(tm.get("finalize_s")),
        "branches": b["branches"],
    }


def steps(cases: list[Case], *, repeat: int, with_dask: bool, planners: list[str], baseline: bool = False) -> int:
    """How many runs ``bench`` makes (its progress steps): a warm-up and ``repeat`` per system."""
    dask = sum(2 if c.threaded else 1 for c in cases) if with_dask else 0
    return (repeat + 1) * (len(cases) * len(planners) * (2 if baseline else 1) + dask)


def bench(
    cases: list[Case],
    *,
    repeat: int,
    with_dask: bool,
    with_breakdown: bool,
    planners: list[str] = ("wukong",),
    timeout_s: float = 600.0,
    progress: Callable[[str], None] = lambda msg: None,
    baseline=None,
) -> list[Row]:
    """``baseline``: an ``experiments.bench.baseline.Baseline`` (another checkout) that runs every slaflow run
    again, alternating with this checkout's, repeat for repeat."""
    if with_dask and not dask_available():
        raise DaskMissing("Dask is not installed: pip install -e '.[bench]' (or run with --no-dask)")
    systems = Systems(with_dask)
    rows = []
    try:
        for case in cases:
            rows.extend(
                _bench_case(
                    case,
                    systems,
                    repeat=repeat,
                    with_dask=with_dask,
                    with_breakdown=with_breakdown,
                    planners=planners,
                    timeout_s=timeout_s,
                    progress=progress,
                    baseline=baseline,
                )
            )
    finally:
        systems.close()
    return rows


def _bench_case(
    case: Case, systems: Systems, *, repeat, with_dask, with_breakdown, planners, timeout_s, progress, baseline=None
) -> list[Row]:
    graph, name = case.graph, case.name
    label = f"bench-{name}-{case.size}"
    results: list = []
    # Each system runs its rounds back to back after a warm-up of its own: interleaving them left
    # slaflow's pools idle past the keep-alive window during Dask's rounds, so every slaflow run
    # measured process start-ups rather than the runtime. slaflow's planners take turns, run for run
    # (all are slaflow, on the same pools): every run of a workflow is history for the next plan, and
    # planners run one after another compared plans made from different histories — an optimization's
    # turn came after its "off" side's, so its plans were made from more runs, and a plan's choices
    # (e.g. the guard's against WUKONG) flipped between them for that alone (Epigenomics: every variant
    # after the third planned 6 workers, 7.5 s, where "off" had kept WUKONG, 6.8 s). A baseline
    # checkout's runs alternate with this one's, run for run: both are slaflow, with pools of their own,
    # and alternating puts both under the same drift of load.
    rows = [Row(name, case.what, len(graph), case.size, p, case.machine_limit_s, case.lower_bound_s) for p in planners]
    for k in range(repeat + 1):
        for row in rows:
            planner = row.planner
            progress(f"{name} ({len(graph)} tasks): slaflow {planner} {'warm-up' if k == 0 else f'{k}/{repeat}'}")
            value, wall, run_id = run_slaflow(graph, label, timeout_s, planner)
            results.append(value)
            if k:
                row.slaflow_wall.append(wall)
                row.slaflow_makespan.append(WorkflowRun.objects.values_list("makespan_s", flat=True).get(pk=run_id))
                row.run_ids.append(run_id)
            if baseline is not None:
                progress(f"{name} ({len(graph)} tasks): baseline {planner} {'warm-up' if k == 0 else f'{k}/{repeat}'}")
                got, b_wall, b_makespan = baseline.run(graph, label, planner)
                row.baseline_equal = (row.baseline_equal is not False) and got == digest(value)
                if k:
                    row.baseline_wall.append(b_wall)
                    row.baseline_makespan.append(b_makespan)
    for row in rows:
        median_run = _median_run(row)
        row.critical_path_s = critical_path_compute(graph, median_run)
        if with_breakdown:
            row.breakdown = breakdown(median_run)
    dask_times: dict[str, list[float]] = {"distributed": [], "threaded": []}
    if with_dask:
        schedulers = (systems.distributed, systems.threaded) if case.threaded else (systems.distributed,)
        for scheduler in schedulers:
            for k in range(repeat + 1):
                progress(f"{name}: dask {scheduler.__name__} {'warm-up' if k == 0 else f'{k}/{repeat}'}")
                # Keys of this run's own: Dask distributed reused the results of a repeat with the same keys
                # that its scheduler had not released yet (gemm "took" 0.097 s, the transfer of its result).
                dsk, key = wl.dask_graph(graph, suffix=f"~{scheduler.__name__}{k}")
                value, took = scheduler(dsk, key)
                results.append(value)
                if k:
                    dask_times[scheduler.__name__].append(took)
    equal = all(wl.same_result(results[0], other) for other in results[1:])
    for row in rows:
        row.dask_distributed, row.dask_threaded = list(dask_times["distributed"]), list(dask_times["threaded"])
        row.results_equal = equal
    return rows


def wfcommons_cases(
    recipes: list[str], *, seed: int, tasks: tuple[int, int], cpu_s: float, total_mb: float, max_mb: float, cores: float
) -> list[Case]:
    """One instance per recipe; its size (within ``tasks``, at least the recipe's minimum) and WfCommons
    seed drawn from ``seed``, so one number replays the whole family."""
    from experiments.bench import wfcommons as wf

    rng = random.Random(seed)
    cases = []
    for recipe in recipes:
        lo = max(tasks[0], wf.min_tasks(recipe))
        n, instance_seed = rng.randint(lo, max(lo, tasks[1])), rng.randrange(1 << 31)
        instance = wf.generate(recipe, n, instance_seed)
        scaled = wf.scale(instance, cpu_s=cpu_s, total_bytes=int(total_mb * 1e6), max_bytes=int(max_mb * 1e6))
        cases.append(
            Case(
                recipe,
                wf.describe(instance, scaled),
                # One task function per job category, as a real workflow runs one program per category (and
                # its history is per function): with one function for every job, whose runtime an argument
                # sets, the timing model could tell no job from another (it promised 1.4 s for a 12
                # CPU-second BWA run and put all 210 jobs on one logical worker).
                wf.build(instance, scaled, by_category=True),
                len(instance.jobs),
                round(wf.machine_limit(instance, scaled, cores), 4),
                threaded=False,
                lower_bound_s=round(wf.lower_bound(instance, scaled, cores), 4),
            )
        )
    return cases


def _median_run(row: Row) -> int:
    order = sorted(range(len(row.run_ids)), key=lambda i: row.slaflow_makespan[i])
    return row.run_ids[order[len(order) // 2]]
