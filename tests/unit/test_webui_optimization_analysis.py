"""Pure computations of the optimization dashboards: per run (what fired) and across runs (its effect)."""

import pytest

from reports import analysis, optimization_analysis as oa, optimization_figures as of


def test_preload_rows_say_which_planned_inputs_came_early_and_which_the_task_waited_for():
    tasks = [
        {"node_id": "x", "worker_id": "w1", "start_s": 0.0, "input_wait_s": 0.0, "optimizations": {}, "inputs": []},
        {
            "node_id": "f",
            "worker_id": "w2",
            "start_s": 2.0,
            "input_wait_s": 0.3,
            "optimizations": {"preload": ["a"], "preload_waited_s": 0.01},
            "inputs": [
                {"node": "a", "bytes": 10, "download_s": 0.1, "local": False, "via": "preload"},
                {"node": "b", "bytes": 20, "download_s": 0.2, "local": False},
                {"node": "c", "bytes": 5, "download_s": 0.0, "local": True},
            ],
        },
    ]
    (row,) = oa.preload_rows(tasks, {"f": {"preload": {"inputs": ["a", "b", "c", "d"]}}})
    assert [(i["node"], i["how"]) for i in row["inputs"]] == [
        ("a", "early"),
        ("b", "waited"),
        ("c", "in memory"),
        ("d", "not fetched"),
    ]
    assert (row["early"], row["waited"], row["preload_waited_s"]) == (1, 1, 0.01)
    # A task that took preloaded inputs the plan did not list for it still shows them.
    (row,) = oa.preload_rows(tasks, {})
    assert [(i["node"], i["how"], i["planned"]) for i in row["inputs"]] == [("a", "early", False)]


def test_a_ping_is_placed_at_its_target_s_first_branch_start_minus_its_gap():
    startups = [
        {"entry_nodes": ["t"], "started_s": 3.0},
        {"entry_nodes": ["t", "u"], "started_s": 2.0},
        {"entry_nodes": ["v"], "started_s": None},
    ]
    assert oa.branch_starts(startups) == {"t": 2.0, "u": 2.0}
    pings = {
        "t": {"sender": "s", "gap_s": 0.5, "hit": True, "handed_off": True},
        "gone": {"sender": "s", "gap_s": None, "hit": False},
    }
    rows = oa.prewarm_timeline(pings, startups, [{"node_id": "t", "start_s": 2.1}])
    assert rows == [
        {
            "target": "gone",
            "sender": "s",
            "sent_s": None,
            "start_s": None,
            "task_start_s": None,
            "gap_s": None,
            "hit": False,
            "handed_off": False,
        },
        {
            "target": "t",
            "sender": "s",
            "sent_s": 1.5,
            "start_s": 2.0,
            "task_start_s": 2.1,
            "gap_s": 0.5,
            "hit": True,
            "handed_off": True,
        },
    ]
    fig = of.prewarm_timeline_figure(rows)  # the target that never started is not drawn; no miss trace
    metas = {t.meta: t for t in fig.data}
    assert list(metas["prewarm:ping"].x) == [1.5] and list(metas["prewarm:hit"].x) == [2.0]
    assert "prewarm:miss" not in metas


def test_clustering_and_streaming_rows_come_from_the_producers_records():
    tasks = [
        {
            "node_id": "p",
            "worker_id": "w1",
            "inputs": [],
            "optimizations": {
                "clustered_children": ["c1", "c2"],
                "not_uploaded_bytes": 100,
                "delayed_io": {"waited_s": 0.2, "picked": ["c2"]},
                "streamed": {"bytes": 64, "chunks": 2},
            },
        },
        {"node_id": "c1", "optimizations": {"clustered": "p"}, "inputs": []},
        {"node_id": "q", "optimizations": {}, "inputs": [{"node": "p", "bytes": 64, "via": "stream"}]},
    ]
    assert oa.clustering_rows(tasks) == [
        {
            "node_id": "p",
            "worker_id": "w1",
            "children": ["c1", "c2"],
            "not_uploaded_bytes": 100,
            "delayed_waited_s": 0.2,
            "picked": ["c2"],
        }
    ]
    assert oa.streaming_rows(tasks) == [{"node_id": "p", "bytes": 64, "chunks": 2, "consumers": ["q"]}]
    assert oa.clustering_rows(tasks[1:]) == [] and oa.streaming_rows(tasks[1:2]) == []


def test_task_time_parts_split_input_wait_into_waiting_and_downloading():
    (parts,) = oa.task_time_parts(
        [
            {
                "node_id": "a",
                "start_s": 1.0,
                "end_s": 2.0,
                "input_wait_s": 0.3,
                "download_s": 0.1,
                "exec_s": 0.4,
                "upload_s": 0.1,
            },
            {"node_id": "not-run", "start_s": None, "end_s": None},
        ]
    )
    assert parts == {
        "node_id": "a",
        "waiting": pytest.approx(0.2),
        "download": 0.1,
        "exec": 0.4,
        "upload": 0.1,
        "other": pytest.approx(0.2),
    }


def test_variants_pair_each_optimized_planner_with_its_plain_one():
    assert oa.variant("uniform-opt", ["preload"]) == "uniform-opt"
    assert oa.variant("uniform", []) == "uniform"
    assert oa.variant("uniform", ["taskdup", "preload"]) == "uniform + preload+taskdup"
    runs = [
        {
            "planner": "uniform",
            "variant": "uniform",
            "makespan_s": 4.0,
            "input_wait_s": 1.0,
            "bytes_written": 100,
            "gb_seconds": 2.0,
        },
        {
            "planner": "uniform",
            "variant": "uniform",
            "makespan_s": 6.0,
            "input_wait_s": 3.0,
            "bytes_written": 100,
            "gb_seconds": 2.0,
        },
        {
            "planner": "uniform-opt",
            "variant": "uniform-opt",
            "makespan_s": 4.0,
            "input_wait_s": 0.004,
            "bytes_written": 50,
            "gb_seconds": 3.0,
        },
        {
            "planner": "uniform",
            "variant": "uniform + taskdup",
            "makespan_s": 2.5,
            "input_wait_s": 2.0,
            "bytes_written": 100,
            "gb_seconds": None,
        },
        {
            "planner": "wukong-opt",
            "variant": "wukong-opt",
            "makespan_s": 1.0,
            "input_wait_s": 0.0,
            "bytes_written": 0,
            "gb_seconds": 1.0,
        },
    ]
    rows = {r["label"]: r for r in oa.on_off(runs)}
    assert sorted(rows) == ["uniform + taskdup vs uniform", "uniform-opt vs uniform"]  # no plain wukong: no pair
    m = rows["uniform-opt vs uniform"]["metrics"]
    assert (m["makespan_s"]["off"], m["makespan_s"]["on"], m["makespan_s"]["change_pct"]) == (5.0, 4.0, -20.0)
    assert m["input_wait_s"]["change_pct"] == pytest.approx(-99.8)
    assert (m["bytes_written"]["change_pct"], m["gb_seconds"]["change_pct"]) == (-50.0, 50.0)
    assert rows["uniform + taskdup vs uniform"]["metrics"]["gb_seconds"]["change_pct"] is None  # not measured
    assert (rows["uniform-opt vs uniform"]["off_runs"], rows["uniform-opt vs uniform"]["on_runs"]) == (2, 1)
    # Milliseconds of input wait either way: a change in % would be noise, so none is given.
    tiny = [dict(r, input_wait_s=v) for r, v in zip(runs[:3], (0.001, 0.001, 0.002))]
    assert oa.on_off(tiny)[0]["metrics"]["input_wait_s"]["change_pct"] is None
    fig = of.on_off_figure(oa.on_off(tiny))
    assert list(fig.data[0].x) == ["makespan (s)", "bytes written", "GB-seconds"]


def test_median_counts_are_per_opt_planner_with_zeros_for_runs_where_nothing_happened():
    runs = [
        {"planner": "uniform-opt", "optimizations": {"preload": {"inputs": 3}, "taskdup": {"dups": 1, "won": 0}}},
        {"planner": "uniform-opt", "optimizations": {"preload": {"inputs": 1}}},
        {"planner": "uniform-opt", "optimizations": {}},
        {"planner": "wukong-opt", "optimizations": {"clustering": {"tasks": 4, "delayed_hits": 1}}},
        {"planner": "uniform", "optimizations": {"preload": {"inputs": 9}}},  # not an -opt planner
    ]
    assert oa.median_counts(runs) == {
        "uniform-opt": {"preloaded inputs": 1, "duplicates": 0, "clustered tasks": 0, "delayed-I/O pick-ups": 0},
        "wukong-opt": {"preloaded inputs": 0, "duplicates": 0, "clustered tasks": 4, "delayed-I/O pick-ups": 1},
    }
    assert oa.median_counts(runs[4:]) == {}


def test_preload_starts_compare_tasks_that_took_preloads_with_runs_that_had_no_preload():
    rows = [
        {"node_id": "f", "start_s": 2.0, "input_wait_s": 0.1, "preloaded": True, "run_preload": True},
        {"node_id": "f", "start_s": 2.2, "input_wait_s": 1.0, "preloaded": False, "run_preload": False},
        {"node_id": "f", "start_s": 2.4, "input_wait_s": 0.8, "preloaded": False, "run_preload": False},
        # PreLoad planned in this run but the task took nothing preloaded: on neither side.
        {"node_id": "f", "start_s": 9.0, "input_wait_s": 9.0, "preloaded": False, "run_preload": True},
        {"node_id": "g", "start_s": 1.0, "input_wait_s": 0.0, "preloaded": False, "run_preload": False},
    ]
    (f,) = oa.preload_starts(rows)
    assert f["node_id"] == "f" and f["with"]["ready_s"] == [2.1] and f["without"]["runs"] == 2
    assert f["without"]["median_ready_s"] == pytest.approx(3.2) and f["without"]["median_start_s"] == pytest.approx(2.3)


def test_prewarm_effectiveness_and_startups_per_planner():
    pings = [
        {"planner": "uniform-opt", "hit": True, "gap_s": 1.0},
        {"planner": "uniform-opt", "hit": False, "gap_s": None},
        {"planner": "uniform-opt", "hit": True, "gap_s": 3.0},
    ]
    assert oa.prewarm_effectiveness(pings) == {
        "uniform-opt": {"sent": 3, "hits": 2, "rate": 2 / 3, "median_gap_s": 2.0}
    }
    startups = [
        {"planner": "uniform", "cold": True, "prewarmed": False},
        {"planner": "uniform-opt", "cold": False, "prewarmed": True},
        {"planner": "uniform-opt", "cold": False, "prewarmed": False},
    ]
    counts = oa.startups_by_planner(startups)
    assert counts == {
        "uniform": {"cold": 1, "warm (pre-warmed)": 0, "warm": 0},
        "uniform-opt": {"cold": 0, "warm (pre-warmed)": 1, "warm": 1},
    }
    fig = of.startups_figure(counts)
    warmed = next(t for t in fig.data if t.meta == "startups:warm (pre-warmed)")
    assert list(warmed.y) == [0, 50] and list(warmed.text) == ["0", "1"]


def test_the_task_table_shows_observed_input_wait_without_a_planned_value():
    (row,) = analysis.task_comparison(
        [
            {
                "node_id": "a",
                "function": "m.f",
                "status": "succeeded",
                "input_wait_s": 0.25,
                "planned_download_s": 0.1,
                "download_s": 0.2,
            }
        ],
        {},
    )
    cells = {c["label"]: c for c in row["cells"]}
    assert (cells["input wait"]["observed"], cells["input wait"]["planned"], cells["input wait"]["pct"]) == (
        0.25,
        None,
        None,
    )
    assert cells["download"]["pct"] == pytest.approx(100.0)
