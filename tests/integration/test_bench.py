"""``bench runtime``: slaflow and Dask on the same graphs, from the command a user runs."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from experiments.bench import runtime as runtime_bench, workloads
from orchestrator.models import WorkflowRun

pytestmark = [pytest.mark.integration]


def test_bench_runtime_runs_slaflow_and_dask_on_the_same_graph(live):
    out = StringIO()
    call_command(
        "bench",
        "runtime",
        "--workload",
        "fanout",
        "--size",
        "fanout=20",
        "--workload",
        "gemm",
        "--size",
        "gemm=256",
        "--repeat",
        "2",
        "--breakdown",
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    rows = {r["workload"]: r for r in map(json.loads, out.getvalue().splitlines())}
    assert set(rows) == {"fanout", "gemm"}
    fan = rows["fanout"]
    assert fan["tasks"] == 22 and fan["results_equal"] is True
    for key in (
        "slaflow_makespan_s",
        "slaflow_wall_s",
        "dask_distributed_s",
        "dask_threaded_s",
        "ratio_makespan",
        "ratio_wall",
    ):
        assert fan[key] is not None and fan[key] > 0, key
    # No-op tasks: microseconds, may round to 0; a path of tasks run one after another fits in its run.
    longest_run = max(WorkflowRun.objects.filter(pk__in=fan["slaflow_runs"]).values_list("makespan_s", flat=True))
    assert 0 <= fan["critical_path_s"] <= longest_run
    assert rows["gemm"]["critical_path_s"] > 0 and rows["gemm"]["makespan_over_critical_path"] > 0
    assert fan["slaflow_wall_s"] >= fan["slaflow_makespan_s"]
    assert len(fan["slaflow_runs"]) == 2 and fan["breakdown_ms_per_task"]["execute"] > 0
    assert rows["gemm"]["results_equal"] is True and rows["gemm"]["tasks"] == 21


def test_bench_runtime_runs_a_baseline_checkout_alternately_in_one_invocation(live):
    """``--baseline DIR``: the same graph on another checkout (here this one: its own driver, cluster, database
    and Redis database), one run there for each run here; results compared by digest."""
    from django.conf import settings

    out = StringIO()
    call_command(
        "bench",
        "runtime",
        "--workload",
        "chain",
        "--size",
        "chain=5",
        "--repeat",
        "2",
        "--no-dask",
        "--baseline",
        str(settings.BASE_DIR),
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    (row,) = map(json.loads, out.getvalue().splitlines())
    assert row["baseline_results_equal"] is True
    assert len(row["spread"]["baseline_makespan_s"]) == 2
    assert 0 < row["baseline_makespan_s"] <= row["baseline_wall_s"]
    assert row["ratio_baseline"] == round(row["slaflow_makespan_s"] / row["baseline_makespan_s"], 3)
    assert len(row["slaflow_runs"]) == 2


def test_bench_runtime_refuses_a_baseline_that_is_not_a_checkout(tmp_path):
    with pytest.raises(CommandError, match=f"--baseline {tmp_path}: not a slaflow checkout"):
        call_command("bench", "runtime", "--workload", "chain", "--no-dask", "--baseline", str(tmp_path))


def test_a_baseline_driver_that_died_is_named_not_a_broken_pipe():
    """A driver killed mid-bench (here: a real process that has exited) gives a clear error."""
    import subprocess

    from django.conf import settings

    from experiments.bench import workloads
    from experiments.bench.baseline import Baseline, BaselineError

    baseline = Baseline(settings.BASE_DIR)
    baseline.proc = subprocess.Popen(["true"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    baseline.proc.wait()
    with pytest.raises(BaselineError, match="died during a run of chain-test"):
        for _ in range(3):  # the first write may still fit the pipe's buffer; a later one breaks it
            baseline.run(workloads.WORKLOADS["chain"].graph(3), "chain-test", "wukong")
    baseline.__exit__(None, None, None)


def test_bench_runtime_says_how_to_get_dask(monkeypatch):
    monkeypatch.setattr(runtime_bench, "dask_available", lambda: False)
    with pytest.raises(CommandError, match=r"pip install -e '\.\[bench\]'"):
        call_command("bench", "runtime", "--workload", "chain")


def test_bench_runtime_refuses_bad_sizes():
    with pytest.raises(CommandError, match="--size 'tree=1' must be WORKLOAD=N"):
        call_command("bench", "runtime", "--size", "tree=1")


def test_the_dask_graph_computes_what_slaflow_would():
    import dask
    import numpy as np

    from orchestrator.core.authoring import build_graph

    # tsqr_svd on 2 blocks of 1,000 x 50, not the workload's 40,000 x 200 (two QRs of 3.6 s each on this
    # machine): the same graph, whose singular values are checked against numpy's of the whole matrix.
    graphs = {
        "tree": workloads.WORKLOADS["tree"].graph(9),
        "fanout": workloads.WORKLOADS["fanout"].graph(5),
        "tsqr_svd": build_graph(workloads.tsqr_svd(2, rows=1_000, cols=50)),
    }
    for name, graph in graphs.items():
        dsk, key = workloads.dask_graph(graph)
        assert len(dsk) == len(graph)
        value = dask.get(dsk, key)
        if name == "tree":
            assert value == sum(range(9))
        if name == "fanout":
            assert value == sum(range(5))
        if name == "tsqr_svd":
            whole = np.vstack([np.random.default_rng([4, i]).standard_normal((1_000, 50)) for i in range(2)])
            assert np.allclose(value, np.linalg.svd(whole, compute_uv=False))


def test_bench_optimizations_runs_on_against_off_and_shows_what_fired(live):
    out = StringIO()
    call_command(
        "bench",
        "optimizations",
        "--scenario",
        "straggler",
        "--repeat",
        "1",
        "--warmup",
        "1",
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    (row,) = map(json.loads, out.getvalue().splitlines())
    assert (row["scenario"], row["optimization"], row["metric"], row["target_pct"]) == (
        "straggler",
        "taskdup",
        "makespan_s",
        -25.0,
    )
    assert row["runs"] == 1 and len(row["on_runs"]) == len(row["off_runs"]) == 1
    assert row["off"] > 0 and row["on"] > 0 and isinstance(row["met"], bool)
    assert row["change_pct"] == pytest.approx((row["on"] - row["off"]) / row["off"] * 100, abs=0.1)
    # The straggler sleeps 3 s more on its first execution: the waiting worker duplicated it.
    assert row["on_fired"]["taskdup"]["dups"] >= 1 and row["off_fired"] == {}
    assert row["fired"].startswith("taskdup 1/1 runs (dups ")


def test_bench_runtime_wfcommons_family_runs_planners_beside_dask_and_the_limit(live):
    out, err = StringIO(), StringIO()
    args = [
        "bench",
        "runtime",
        "--family",
        "wfcommons",
        "--recipe",
        "epigenomics",
        "--wf-tasks",
        "40-45",
        "--wf-cpu",
        "1",
        "--wf-mb",
        "20",
        "--wf-max-mb",
        "4",
        "--repeat",
        "1",
        "--planner",
        "wukong",
        "--planner",
        "uniform",
        "--seed",
        "5",
        "--json",
    ]
    call_command(*args, stdout=out, stderr=err)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["planner"] for r in rows] == ["wukong", "uniform"]
    assert "seed 5 (replay with --seed 5)" in err.getvalue()
    for row in rows:
        assert row["workload"] == "epigenomics" and row["results_equal"] is True, row
        assert row["tasks"] == row["size"] + 1  # the jobs and the collector
        assert row["machine_limit_s"] > 0 and row["slaflow_makespan_s"] > 0 and row["dask_distributed_s"] > 0
        assert row["ratio_machine_limit"] == pytest.approx(row["slaflow_makespan_s"] / row["machine_limit_s"], rel=1e-2)
        assert row["lower_bound_s"] >= row["machine_limit_s"]
        assert row["ratio_lower_bound"] == pytest.approx(row["slaflow_makespan_s"] / row["lower_bound_s"], rel=1e-2)
        assert row["dask_threaded_s"] is None and len(row["slaflow_runs"]) == 1
    assert "20 MB of outputs (largest 4.0 MB)" in rows[0]["what"] and rows[0]["what"] == rows[1]["what"]


def test_bench_runtime_family_options_are_checked():
    with pytest.raises(CommandError, match="--wf-tasks '300-30' must be LO-HI"):
        call_command("bench", "runtime", "--family", "wfcommons", "--wf-tasks", "300-30")
    with pytest.raises(CommandError, match="unknown planner 'nope'"):
        call_command("bench", "runtime", "--family", "wfcommons", "--planner", "nope", "--no-dask")
