"""The canvas as signature dicts: queues, ids and headers (no broker)."""

from orchestrator.core.graph import Node, Ref
from orchestrator.planning.plan import Plan, TaskPlan
from workers import canvas


def graph():
    return {
        "a": Node("a", "m.f"),
        "b": Node("b", "m.f"),
        "c": Node("c", "m.g", args=(Ref("a"), Ref("b"))),
    }


def test_flexible_roots_go_to_the_ready_list_and_executors_pop_them():
    """a, b flexible roots of c on 2048 MB: no branch per root, but one executor per root up to the cap."""
    plan = Plan("wukong", "p90", {n: TaskPlan(n, 2048) for n in "abc"})
    assert canvas.flexible_roots(plan, graph()) == {2048: ["a", "b"]}
    sigs = [dict(s) for s in canvas.emit(plan, graph(), run_id=7, executor_cap=6).tasks]
    assert [tuple(s["args"]) for s in sigs] == [(7, []), (7, [])]
    for s in sigs:
        assert s["task"] == "workers.tasks.run_branch"
        assert s["kwargs"] == {"worker": None, "memory_mb": 2048}
        assert s["options"]["queue"] == "rc-2048"
        assert s["options"]["headers"]["slaflow"]["run_id"] == 7
    assert [s["options"]["task_id"] for s in sigs] == ["r7-x2048-root-1", "r7-x2048-root-2"]
    # The cap bounds them: more would only queue behind the configuration's processes.
    (only,) = canvas.emit(plan, graph(), run_id=7, executor_cap=1).tasks
    assert only.options["task_id"] == canvas.executor_token(7, 2048, "root", 1)


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


def test_a_planned_plan_emits_one_root_branch_per_logical_worker():
    """Non-uniform plan of two long roots on different workers and memory sizes:

    slow   fast        slow: CPU-bound, 1 s at 2048 MB, 4 s at 512; fast: 0.3 s at any size
       \\   /
        join
    """
    from orchestrator import planning
    from orchestrator.planning.predictor import Predictor
    from tests.planning_support import config, graph as make_graph, history, same_everywhere

    g = make_graph({"slow": ("m.slow", []), "fast": ("m.fast", []), "join": ("m.join", ["slow", "fast"])})
    h = history(
        {
            "m.slow": {512: 4.0, 1024: 2.0, 2048: 1.0},
            **same_everywhere(["m.fast"], 0.3),
            **same_everywhere(["m.join"], 0.01),
        },
        cold_s=0.05,
    )
    plan = planning.get("non-uniform")(g, Predictor(h), config("non-uniform", sla="p50"))
    assert plan.tasks["slow"].worker != plan.tasks["fast"].worker
    assert plan.tasks["fast"].memory_mb == 512 and plan.tasks["slow"].memory_mb == 2048
    sigs = {tuple(s["args"][1]): dict(s) for s in canvas.emit(plan, g, run_id=9).tasks}
    assert set(sigs) == {("slow",), ("fast",)}  # join is dispatched later, by a worker
    for entry, sig in sigs.items():
        tp = plan.tasks[entry[0]]
        assert sig["task"] == "workers.tasks.run_branch"
        assert sig["kwargs"] == {"worker": tp.worker}
        assert sig["options"]["queue"] == f"rc-{tp.memory_mb}"
        assert sig["options"]["task_id"] == canvas.branch_token(9, list(entry), tp.worker)
        header = sig["options"]["headers"]["slaflow"]
        assert header["run_id"] == 9 and header["worker"] == tp.worker and header["memory_mb"] == tp.memory_mb
    compact = plan.compact(g)
    assert compact["join"]["w"] == plan.tasks["slow"].worker and compact["join"]["m"] == 2048
    assert compact["fast"]["n"] == 1 and "n" not in compact["join"]
