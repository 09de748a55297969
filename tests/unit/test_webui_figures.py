"""Figures are pure functions of plain data: assert on the figure objects, no browser."""

import json

from reports import figures


def tree_nodes(status="succeeded"):
    """
    l0  l1  l2  l3
      \\ /    \\ /
      m0      m1
         \\  /
          s
    """
    nodes = [
        {
            "id": f"l{i}",
            "function": "m.leaf",
            "level": 0,
            "upstream": [],
            "memory_mb": 512,
            "worker": "w1" if i < 2 else "w2",
            "status": status,
        }
        for i in range(4)
    ]
    nodes += [
        {
            "id": "m0",
            "function": "m.add",
            "level": 1,
            "upstream": ["l0", "l1"],
            "memory_mb": 1024,
            "worker": "w1",
            "status": status,
        },
        {
            "id": "m1",
            "function": "m.add",
            "level": 1,
            "upstream": ["l2", "l3"],
            "memory_mb": 1024,
            "worker": "w2",
            "status": "running",
        },
        {
            "id": "s",
            "function": "m.add",
            "level": 2,
            "upstream": ["m0", "m1"],
            "memory_mb": 1024,
            "worker": "w1",
            "status": "pending",
        },
    ]
    return nodes


def trace(fig, meta):
    return next(t for t in fig.data if t.meta == meta)


def test_dag_has_one_marker_per_node_and_colours_for_each_mode():
    fig = figures.dag_figure(tree_nodes(), planned_path=["l0", "m0", "s"], observed_path=["l3", "m1", "s"])
    nodes = trace(fig, "nodes")
    assert list(nodes.customdata) == ["l0", "l1", "l2", "l3", "m0", "m1", "s"]
    assert len(nodes.x) == 7
    assert nodes.marker.color[5] == figures.STATUS_COLORS["running"]
    assert nodes.marker.color[6] == figures.STATUS_COLORS["pending"]
    buttons = {b.label: b.args[0]["marker.color"][0] for b in fig.layout.updatemenus[0].buttons}
    by_config = buttons["colour: resource config"]
    assert by_config[0] == by_config[3] != by_config[4] == by_config[6]
    by_worker = buttons["colour: worker"]
    assert by_worker[0] == by_worker[4] != by_worker[2]
    # The planned path's edges and the observed one are traces of their own (2 edges each).
    assert len([x for x in trace(fig, "planned-path").x if x is not None]) == 4
    assert len([x for x in trace(fig, "observed-path").x if x is not None]) == 4
    # Edges: 6 of them, drawn as segments separated by None.
    assert list(trace(fig, "edges").x).count(None) == 6
    json.loads(fig.to_json())  # serialisable for the page


def test_dag_without_paths_draws_no_path_traces():
    fig = figures.dag_figure(tree_nodes(), color_by="config")
    assert {t.meta for t in fig.data} == {"edges", "nodes"}
    assert fig.layout.updatemenus[0].active == 1


def test_gantt_has_a_trace_per_part_and_planned_bars_in_their_own_offset_group():
    bars = [
        {"row": "w1", "part": "exec", "start": 0.0, "end": 1.0, "planned": False, "text": "a"},
        {"row": "w1", "part": "exec", "start": 1.0, "end": 1.5, "planned": False, "text": "b"},
        {"row": "w2", "part": "start-up (cold)", "start": 0.0, "end": 0.3, "planned": False, "text": ""},
        {"row": "w2", "part": "exec", "start": 0.2, "end": 0.9, "planned": True, "text": "p"},
    ]
    fig = figures.gantt_figure(bars, promise_s=2.0, makespan_s=1.5)
    exec_obs = trace(fig, "observed:exec")
    assert list(exec_obs.base) == [0.0, 1.0] and list(exec_obs.x) == [1.0, 0.5]
    assert exec_obs.offsetgroup == "observed" and trace(fig, "planned:exec").offsetgroup == "planned"
    assert list(fig.layout.yaxis.categoryarray) == ["w2", "w1"]  # first to start on top
    assert len(fig.layout.shapes) == 2  # makespan and promise lines


def test_pareto_merges_slas_that_give_a_planner_the_same_point():
    pts = [
        {"planner": "wukong", "sla": "p50", "cost": 2.0, "makespan": 1.0, "source": "history", "pareto": True},
        {"planner": "wukong", "sla": "p90", "cost": 2.0, "makespan": 1.0, "source": "history", "pareto": True},
        {"planner": "uniform", "sla": "p50", "cost": 1.0, "makespan": 1.5, "source": "predicted", "pareto": True},
        {"planner": "uniform", "sla": "p90", "cost": 1.5, "makespan": 2.0, "source": "predicted", "pareto": False},
    ]
    fig = figures.pareto_figure(pts)
    wk = trace(fig, "planner:wukong")
    assert list(wk.text) == ["p50, p90"] and wk.marker.symbol == ("circle-open",)
    assert len(trace(fig, "planner:uniform").x) == 2
    front = trace(fig, "front")
    assert list(zip(front.x, front.y)) == [(1.0, 1.5), (2.0, 1.0)]


def test_sla_figures_and_boxes():
    rows = [
        {"planner": "uniform", "sla": "p90", "runs": 4, "judged": 4, "within": 3, "rate": 0.75},
        {"planner": "uniform", "sla": "average", "runs": 2, "judged": 2, "within": 1, "rate": 0.5},
        {"planner": "wukong", "sla": "p90", "runs": 3, "judged": 0, "within": 0, "rate": None},
    ]
    bars = figures.sla_success_figure(rows)
    uni = trace(bars, "sla:uniform")
    assert list(uni.x) == ["average", "p90"] and list(uni.y) == [50.0, 75.0]
    assert len(trace(bars, "sla:wukong").x) == 0
    heat = trace(figures.sla_matrix_figure(rows), "matrix")
    assert list(heat.y) == ["uniform", "wukong"] and list(heat.x) == ["average", "p90"]
    assert list(heat.z[0]) == [50.0, 75.0] and list(heat.z[1]) == [None, None]
    box = figures.box_figure({"a · p90": [1.0, 2.0]}, y_title="s", markers={"a · p90": [1.8]})
    assert list(trace(box, "markers").y) == [1.8]


def test_breakdown_pie_leaves_out_empty_parts():
    pie = trace(figures.breakdown_figure({"exec": 2.0, "waiting": 0.0, "transfer": 1.0}), "pie")
    assert list(pie.labels) == ["exec", "transfer"]
