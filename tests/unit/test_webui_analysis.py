"""Pure computations of the web UI: segments, critical paths, breakdowns, SLA success, layout."""

import pytest

from reports import analysis
from reports.layout import layered_positions


def test_observed_segments_are_laid_end_to_end_and_the_rest_is_dispatch():
    t = {"start_s": 1.0, "end_s": 2.0, "input_wait_s": 0.2, "exec_s": 0.5, "upload_s": 0.1}
    segs = analysis.task_segments(t)
    assert [s[0] for s in segs] == ["input wait", "exec", "upload", "counters + dispatch"]
    assert segs[0][1:] == (1.0, 1.2)
    assert segs[1][1:] == pytest.approx((1.2, 1.7))
    assert segs[-1][2] == 2.0
    assert analysis.task_segments({"start_s": None, "end_s": None}) == []


def test_planned_segments_need_a_planned_start():
    assert analysis.planned_segments({"planned_start_s": None}) == []
    t = {
        "planned_start_s": 2.0,
        "planned_end_s": 3.0,
        "planned_download_s": 0.25,
        "planned_exec_s": 0.5,
        "planned_upload_s": None,
        "planned_startup": "cold",
        "planned_startup_s": 0.5,
    }
    assert analysis.planned_segments(t) == [("start-up", 1.5, 2.0), ("input wait", 2.0, 2.25), ("exec", 2.25, 2.75)]
    # Only a window predicted: one bar for the whole task.
    assert analysis.planned_segments({"planned_start_s": 1.0, "planned_end_s": 4.0}) == [("exec", 1.0, 4.0)]


def test_observed_critical_path_follows_the_input_that_finished_last():
    """
    a(1) ─┐
          ├─ c(5) ─┐
    b(4) ─┘        ├─ e(9)
    d(7) ──────────┘
    """
    ups = {"a": [], "b": [], "c": ["a", "b"], "d": [], "e": ["c", "d"]}
    end = {"a": 1.0, "b": 4.0, "c": 5.0, "d": 7.0, "e": 9.0}
    assert analysis.observed_critical_path(ups, end, "e") == ["d", "e"]
    end["d"] = 3.0
    assert analysis.observed_critical_path(ups, end, "e") == ["b", "c", "e"]
    assert analysis.observed_critical_path(ups, {"e": None}, "e") == []


def test_critical_path_ties_go_to_argument_order_not_names():
    for first, second in (("x", "y"), ("y", "x")):
        ups = {first: [], second: [], "s": [first, second]}
        path = analysis.observed_critical_path(ups, {first: 1.0, second: 1.0, "s": 2.0}, "s")
        assert path == [first, "s"]


def test_time_breakdown_separates_waiting_from_transfer():
    tasks = [
        {
            "exec_s": 1.0,
            "input_wait_s": 0.5,
            "download_s": 0.2,
            "upload_s": 0.1,
            "counter_update_s": 0.01,
            "dispatch_s": 0.02,
        },
        {"exec_s": 2.0, "input_wait_s": None, "download_s": None, "upload_s": None},
    ]
    out = analysis.time_breakdown(tasks, [{"startup_s": 0.3}, {"startup_s": 0.7}])
    assert out == pytest.approx({"exec": 3.0, "waiting": 0.3, "transfer": 0.3, "start-up": 1.0, "dispatch": 0.03})


def test_critical_path_steps_count_hand_off_gaps():
    tasks = {
        "a": {"start_s": 0.5, "end_s": 1.0, "exec_s": 0.4, "input_wait_s": 0.0},
        "b": {"start_s": 1.3, "end_s": 2.0, "exec_s": 0.5, "input_wait_s": 0.1, "download_s": 0.1},
    }
    steps = analysis.critical_path_steps(["a", "b"], tasks)
    assert [s["gap"] for s in steps] == pytest.approx([0.5, 0.3])
    totals = analysis.critical_path_totals(steps)
    assert totals["exec"] == pytest.approx(0.9) and totals["transfer"] == pytest.approx(0.1)
    # Everything on the path adds up to the sink's end.
    assert sum(totals.values()) == pytest.approx(2.0)


def test_pct_diff_and_its_colour_class():
    assert analysis.pct_diff(2.0, 3.0) == pytest.approx(50.0)
    assert analysis.pct_diff(None, 3.0) is None and analysis.pct_diff(0.0, 1.0) is None
    assert [analysis.diff_class(p) for p in (5, -10, 30, -49, 51, None)] == [
        "diff-good",
        "diff-good",
        "diff-fair",
        "diff-fair",
        "diff-bad",
        "",
    ]


def test_sla_success_counts_only_runs_with_a_promise():
    runs = [
        {"planner": "uniform", "sla": "p90", "makespan_s": 1.0, "predicted_makespan_s": 1.5},
        {"planner": "uniform", "sla": "p90", "makespan_s": 2.0, "predicted_makespan_s": 1.5},
        {"planner": "uniform", "sla": "average", "makespan_s": 1.0, "predicted_makespan_s": 1.0},
        {"planner": "wukong", "sla": "p90", "makespan_s": 1.0, "predicted_makespan_s": None},
    ]
    rows = analysis.sla_success(runs)
    assert [(r["planner"], r["sla"]) for r in rows] == [("uniform", "average"), ("uniform", "p90"), ("wukong", "p90")]
    assert rows[1] | {} == {"planner": "uniform", "sla": "p90", "runs": 2, "judged": 2, "within": 1, "rate": 0.5}
    assert rows[2]["rate"] is None and rows[2]["runs"] == 1


def test_pareto_front_keeps_non_dominated_points():
    pts = [(1.0, 10.0), (2.0, 5.0), (3.0, 6.0), (4.0, 1.0), (1.0, 10.0)]
    assert analysis.pareto_front(pts) == [True, True, False, True, True]


def test_task_comparison_and_predictions():
    t = {
        "node_id": "a",
        "function": "m.f",
        "status": "succeeded",
        "planned_start_s": 1.0,
        "start_s": 1.2,
        "planned_exec_s": 1.0,
        "exec_s": 3.0,
    }
    row = analysis.task_comparison([t], {"a": 0.4})[0]
    cells = {c["label"]: c for c in row["cells"]}
    assert cells["start"]["cls"] == "diff-fair" and cells["exec"]["cls"] == "diff-bad"
    assert cells["start-up"]["observed"] == 0.4 and cells["start-up"]["planned"] is None
    assert row["function"] == "f" and row["planned_worker"] == "flexible"
    assert analysis.has_predictions([t]) and not analysis.has_predictions([{"node_id": "b"}])


def test_gantt_bars_put_flexible_planned_tasks_on_the_worker_that_ran_them():
    tasks = [
        {
            "node_id": "a",
            "worker_id": "f:a",
            "planned_worker": "",
            "start_s": 0.1,
            "end_s": 0.5,
            "exec_s": 0.3,
            "planned_start_s": 0.0,
            "planned_end_s": 0.4,
            "planned_exec_s": 0.4,
        }
    ]
    startups = [
        {
            "worker_id": "f:a",
            "memory_mb": 512,
            "cold": True,
            "requested_s": 0.0,
            "ready_s": 0.1,
            "ended_s": 0.5,
            "prewarmed": False,
        }
    ]
    bars = analysis.gantt_bars(tasks, startups)
    assert {b["row"] for b in bars} == {"f:a"}
    assert [(b["part"], b["planned"]) for b in bars] == [
        ("start-up (cold)", False),
        ("exec", False),
        ("counters + dispatch", False),
        ("exec", True),
    ]


def test_layered_layout_centres_layers_and_untangles_a_fan_in():
    """
    a   b   c   d        layer 0 in structural order
     \\ /     \\ /
      e       f          layer 1: f listed first, but its inputs sit below e's
    """
    order = ["a", "b", "c", "d", "f", "e"]
    levels = {"a": 0, "b": 0, "c": 0, "d": 0, "e": 1, "f": 1}
    pos = layered_positions(order, levels, {"e": ["a", "b"], "f": ["c", "d"]})
    assert pos["a"] == (0.0, 1.5) and pos["d"] == (0.0, -1.5)
    assert pos["e"][1] > pos["f"][1]  # e above f, next to its inputs
    assert pos["e"][0] == pos["f"][0] == 1.0


def test_per_function_summarises_exec_and_transfer():
    tasks = [
        {
            "function": "m.mul",
            "exec_s": 1.0,
            "input_wait_s": 0.5,
            "download_s": 0.5,
            "output_bytes": 10,
            "inputs": [{"node": "x", "bytes": 2_000_000, "local": False}, {"node": "y", "bytes": 5, "local": True}],
        },
        {"function": "m.mul", "exec_s": 3.0, "input_wait_s": 0.0, "download_s": 0.0, "output_bytes": 10, "inputs": []},
        {"function": "m.src", "exec_s": None, "output_bytes": None, "inputs": []},
    ]
    mul, src = analysis.per_function(tasks)
    assert (mul["function"], mul["tasks"], mul["finished"]) == ("mul", 2, 2)
    assert mul["mean_exec_s"] == 2.0 and mul["downloaded_bytes"] == 2_000_000
    assert mul["download_mb_s"] == pytest.approx(4.0)
    assert src["finished"] == 0 and src["mean_exec_s"] is None and src["download_mb_s"] is None
