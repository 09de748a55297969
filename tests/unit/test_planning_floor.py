"""The physical floor (issue 25, item 1): no promise below what the machine can do.

The shape is issue 25's Epigenomics-like DAG: a split, ten chains of four
busy-loop tasks, a merge — 42 tasks, 8 CPU-seconds, a critical path of 5.7 s
at one full core — planned for 2 cores.
"""

from __future__ import annotations

import pytest

from orchestrator.planning import floor, nonuniform, uniform
from orchestrator.planning.dag import index
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample
from orchestrator.planning.plan import Plan
from orchestrator.planning.predictor import Predictor
from tests.planning_support import OPTIONS, config, graph

SPLIT_S, MERGE_S, STEP_S = 2.7, 2.7, 0.065  # CPU seconds of one full core
CHAINS, STEPS = 10, ("filter", "sol2sanger", "fastq2bfq", "map")
CORES = 2.0


def epigenomics() -> dict:
    edges = {"split": ("split", [])}
    for c in range(CHAINS):
        up = "split"
        for step in STEPS:
            nid = f"{step}{c}"
            edges[nid] = (step, [up])
            up = nid
    edges["merge"] = ("merge", [f"{STEPS[-1]}{c}" for c in range(CHAINS)])
    return graph(edges)


CPU = {"split": SPLIT_S, "merge": MERGE_S, **{s: STEP_S for s in STEPS}}
CRITICAL_CPU_S = SPLIT_S + len(STEPS) * STEP_S + MERGE_S  # 5.66 s
TOTAL_CPU_S = SPLIT_S + MERGE_S + CHAINS * len(STEPS) * STEP_S  # 8.0 s


def busy_loop_history(*, exec_share: float = 1.0, runs: int = 6) -> History:
    """Busy-loop tasks measured under enforced quotas on 2048 MB (one full core): ``cpu_s`` is the
    work; the recorded exec time is ``exec_share`` of it — below 1, contention was divided out of
    samples that had none (what a crowded host's stretch estimate does when it counts the run's
    own load twice)."""
    h = History()
    for fn, cpu in CPU.items():
        for k in range(runs):
            h.add_task(fn, 2048, TaskSample(0, cpu * exec_share, 100, post_s=0.001, run=k + 1, cpu_s=cpu))
    for mb in OPTIONS:
        for _ in range(6):
            for add in (h.add_download, h.add_upload, h.add_store):
                add(mb, TransferSample(100, 0.001))
            h.add_startup(mb, "new", StartupSample(0.3, 0.1))
            h.add_startup(mb, "cold", StartupSample(0.05, 0.02))
            h.add_startup(mb, "warm", StartupSample(0.01, 0.0))
    return h


def test_the_floor_is_the_critical_cpu_path_or_the_total_cpu_over_the_cores():
    g = epigenomics()
    dag = index(g)
    assert dag.n == 42
    cpu = [CPU[fn] for fn in dag.fn]
    f = floor.of(dag, cpu_s=cpu, speed=[1.0] * dag.n, cores=CORES)
    assert f.path_s == pytest.approx(CRITICAL_CPU_S)
    assert f.total_s == pytest.approx(TOTAL_CPU_S / CORES)
    assert f.value == pytest.approx(CRITICAL_CPU_S)
    assert f.path[0] == "split" and f.path[-1] == "merge" and len(f.path) == 6
    # One core: the total work is the floor; at a 512 MB quota every task computes 1/0.29 as slowly.
    assert floor.of(dag, cpu_s=cpu, speed=[1.0] * dag.n, cores=1.0).value == pytest.approx(TOTAL_CPU_S)
    slow = floor.of(dag, cpu_s=cpu, speed=[0.29] * dag.n, cores=None)
    assert slow.path_s == pytest.approx(CRITICAL_CPU_S / 0.29) and slow.total_s == 0.0


def test_clamp_raises_every_recorded_promise_and_says_so():
    f = floor.Floor(path_s=5.66, total_s=4.0, path=("a", "b"))
    plan = Plan(
        planner="uniform",
        sla="p90",
        tasks={},
        note="uniform",
        predicted_makespan_s=4.5,
        promises={"p50": 2.85, "p90": 4.5, "p95": 7.0},
    )
    assert floor.clamp(plan, f)
    assert plan.predicted_makespan_s == 5.66
    assert plan.promises == {"p50": 5.66, "p90": 5.66, "p95": 7.0}
    assert "physical floor 5.66 s" in plan.note and "p50 2.85" in plan.note
    assert plan.floor["clamped"] is True and plan.floor["seconds"] == 5.66
    above = Plan(
        planner="uniform", sla="p90", tasks={}, note="uniform", predicted_makespan_s=6.0, promises={"p50": 5.9}
    )
    assert not floor.clamp(above, f)
    assert above.note == "uniform" and above.floor["clamped"] is False


@pytest.mark.parametrize("planner", [uniform, nonuniform])
def test_contention_divided_out_twice_no_longer_promises_below_the_cpu_path(planner):
    """Samples recorded at half their CPU time (the issue's 2.85 s p50 for a 5.7 s CPU path): a task
    cannot compute faster than its CPU speed, so the predictor reads them as the CPU time at least,
    and the promise is made from the work itself."""
    cfg = config(planner.__name__.rsplit(".", 1)[-1].replace("nonuniform", "non-uniform"), "p50", cores=CORES)
    plan = planner.plan(epigenomics(), Predictor(busy_loop_history(exec_share=0.5)), cfg)
    assert not plan.fallback
    assert plan.floor["seconds"] == pytest.approx(CRITICAL_CPU_S)
    for sla, promise in {"own": plan.predicted_makespan_s, **plan.promises}.items():
        assert promise >= CRITICAL_CPU_S - 1e-6, (sla, promise)
    # The model itself now reaches the floor: the clamp did not have to act.
    assert plan.predicted_median_s >= CRITICAL_CPU_S - 1e-6


def test_a_calibration_below_the_floor_is_clamped_and_the_note_says_so():
    """Valid samples, but past runs' residuals say runs finish in 40 % of the typical makespan (replays
    of plans made with another capacity): the calibrated promise would be impossible."""
    cfg = config("uniform", "p90", cores=CORES, residuals=(0.4,) * 8)
    plan = uniform.plan(epigenomics(), Predictor(busy_loop_history()), cfg)
    assert plan.calibration["factor"] == pytest.approx(0.4, rel=0.05)
    assert plan.predicted_median_s * 0.5 < CRITICAL_CPU_S  # what the calibration alone would promise
    assert plan.floor["clamped"] is True
    assert plan.predicted_makespan_s == pytest.approx(CRITICAL_CPU_S, rel=1e-5)
    assert all(v >= CRITICAL_CPU_S - 1e-6 for v in plan.promises.values())
    assert "physical floor" in plan.note


def test_without_measured_cpu_there_is_no_floor_to_hold():
    h = History()
    for fn in CPU:
        for k in range(6):
            h.add_task(fn, 2048, TaskSample(0, 0.01, 100, run=k + 1))  # sleeps: no CPU measured
    plan = uniform.plan(epigenomics(), Predictor(h), config("uniform", "p90", cores=CORES))
    assert plan.floor["seconds"] == 0.0 and plan.floor["clamped"] is False


def test_the_floor_never_exceeds_the_cpu_a_run_of_varied_tasks_used():
    """A 1000Genome-like shape from the suite (DAG 5): ten ``individuals`` jobs of one function whose CPU
    varies with what they process (eight of 0.5 s, two of 0.01 s, inputs of one size), merged. The
    median of the function's samples (0.5 s) weighed every job: 5.0 CPU-s over 2 cores, a 2.5 s floor
    for a run that needs 4.02 CPU-s and can end in 2.01 s. The floor weighs each job by the least its
    function was seen to need: never above the physics it stands for."""
    work = [0.5] * 8 + [0.01] * 2
    g = graph(
        {
            "split": ("split", []),
            **{f"ind{i}": ("individuals", ["split"]) for i in range(10)},
            "merge": ("merge", [f"ind{i}" for i in range(10)]),
        }
    )
    h = busy_loop_history()  # split and merge (2.7 s each), transfers, start-ups
    for run in range(3):
        for w in work:
            h.add_task("individuals", 2048, TaskSample(0, w, 100, post_s=0.001, run=run + 1, cpu_s=w))
    plan = uniform.plan(g, Predictor(h), config("uniform", "p50", cores=CORES))
    true_total = SPLIT_S + MERGE_S + sum(work)
    assert plan.floor["total_cpu_over_cores_s"] <= true_total / CORES + 1e-6
    assert plan.floor["critical_cpu_path_s"] <= SPLIT_S + max(work) + MERGE_S + 1e-6
    assert plan.floor["critical_cpu_path_s"] >= SPLIT_S + MERGE_S - 1e-6  # still the chain that must happen
