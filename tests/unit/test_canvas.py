"""The canvas as signature dicts: queues, ids and headers (no broker)."""
from orchestrator import canvas
from orchestrator.graph import Node, Ref
from orchestrator.planning.plan import Plan, TaskPlan


def graph():
    return {
        "a": Node("a", "m.f"), "b": Node("b", "m.f"),
        "c": Node("c", "m.g", args=(Ref("a"), Ref("b"))),
    }


def test_flexible_roots_get_one_branch_each_on_their_queue():
    plan = Plan("wukong", "p90", {n: TaskPlan(n, 2048) for n in "abc"})
    g = canvas.emit(plan, graph(), run_id=7)
    sigs = [dict(s) for s in g.tasks]
    assert [s["args"] for s in sigs] == [[7, ["a"]], [7, ["b"]]] or [s["args"] for s in sigs] == [(7, ["a"]), (7, ["b"])]
    for s in sigs:
        assert s["task"] == "workers.tasks.run_branch"
        assert s["options"]["queue"] == "rc-2048"
        assert s["options"]["headers"]["slaflow"]["run_id"] == 7
        assert s["options"]["task_id"].startswith("r7-f-")
    assert len({s["options"]["task_id"] for s in sigs}) == 2


def test_roots_of_one_worker_share_a_branch_with_annotations():
    tasks = {
        "a": TaskPlan("a", 512, worker="w1", annotations={"preload": {}}),
        "b": TaskPlan("b", 512, worker="w1"),
        "c": TaskPlan("c", 1024, worker="w2"),
    }
    g = canvas.emit(Plan("uniform", "p50", tasks), graph(), run_id=3)
    (sig,) = [dict(s) for s in g.tasks]
    assert list(sig["args"][1]) == ["a", "b"]
    assert sig["kwargs"] == {"worker": "w1"}
    assert sig["options"]["queue"] == "rc-512"
    assert sig["options"]["headers"]["slaflow"]["annotations"] == {"a": {"preload": {}}}


def test_branch_token_is_deterministic():
    assert canvas.branch_token(1, ["b", "a"], None) == canvas.branch_token(1, ["a", "b"], None)
    assert canvas.branch_token(1, ["a"], "w") != canvas.branch_token(1, ["a"], None)
