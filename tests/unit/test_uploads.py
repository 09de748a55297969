"""The one upload rule (orchestrator.planning.uploads), as the planner and the runtime use it.

a → b → c        flexible chain: a and b keep their outputs (the branch continues with the child)
d → e, f         a flexible fan-out: d uploads (f may run on another executor)
g, h → i         a fan-in: g and h upload (whoever finishes last may be elsewhere)
"""

from orchestrator import planning
from orchestrator.planning.plan import Plan, TaskPlan
from orchestrator.planning.uploads import Consumer, uploads
from tests.planning_support import graph


def test_a_flexible_task_keeps_its_output_only_for_its_single_single_input_child():
    assert uploads(None, [Consumer(None, False, 1)]) is False
    assert uploads(None, [Consumer(None, False, 1), Consumer(None, False, 1)]) is True
    assert uploads(None, [Consumer(None, False, 2)]) is True
    assert uploads(None, [Consumer("w1", False, 1)]) is True


def test_a_planned_task_uploads_for_other_workers_and_new_branches_of_its_own():
    assert uploads("w1", [Consumer("w1", False, 1), Consumer("w1", False, 3)]) is False
    assert uploads("w1", [Consumer("w2", False, 1)]) is True
    assert uploads("w1", [Consumer("w1", True, 1)]) is True  # its own worker, after a start-up
    assert uploads("w1", [Consumer(None, False, 1)]) is True


def test_the_sink_stores_its_result():
    assert uploads(None, []) is True and uploads("w1", []) is True


def test_plans_carry_the_decision_to_the_workers():
    g = graph(
        {
            "a": ("m.f", []),
            "b": ("m.f", ["a"]),
            "c": ("m.f", ["b"]),
            "d": ("m.f", ["c"]),
            "e": ("m.f", ["d"]),
            "f": ("m.f", ["d"]),
            "i": ("m.g", ["e", "f"]),
        }
    )
    plan = planning.get("wukong")(g, None, _config())
    compact = plan.compact(g)
    assert {n: compact[n]["u"] for n in g} == {"a": 0, "b": 0, "c": 0, "d": 1, "e": 1, "f": 1, "i": 1}
    # A planned layout: worker w0 runs a..d, w1 the rest (its branch starts at e and f).
    tasks = {n: TaskPlan(n, 2048, worker="w0" if n in "abcd" else "w1", startup="none") for n in g}
    tasks["a"].startup = "cold"
    tasks["e"].startup = tasks["f"].startup = "warm"
    planned = Plan("uniform", "p90", tasks)
    planned.set_uploads(g)
    assert {n: planned.tasks[n].upload for n in g} == {
        "a": False,
        "b": False,
        "c": False,
        "d": True,
        "e": False,
        "f": False,
        "i": True,
    }


def _config():
    from tests.planning_support import config

    return config("wukong")
