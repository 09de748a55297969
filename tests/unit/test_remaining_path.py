"""A task's longest planned path to the run's end: the priority of a body waiting for a core (``store.cores``)."""

import pytest

from orchestrator.core.graph import Node
from workers.context import RunContext


def context(plan: dict) -> RunContext:
    r"""
        a (1 s)
       /       \
    b (2 s)   c (5 s)
       \       /
        d (1 s)      e: unplanned, alone
    """
    graph = {n: Node(n, "f") for n in "abcde"}
    downstream = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": [], "e": []}
    return RunContext(
        run_id=1,
        structure_hash="h",
        started_at=0.0,
        sink="d",
        graph=graph,
        plan=plan,
        downstream=downstream,
        default_memory_mb=512,
    )


def test_the_bottom_level_follows_the_plan_s_times():
    times = {"a": (0, 1), "b": (1, 3), "c": (1, 6), "d": (6, 7)}
    ctx = context({n: {"s": s, "e": e} for n, (s, e) in times.items()})
    assert [ctx.remaining_s(n) for n in "abcde"] == pytest.approx([7.0, 3.0, 6.0, 1.0, 0.0])
    assert ctx.remaining_s("c[3]") == pytest.approx(6.0)  # an element task: its mapped node's


def test_without_planned_times_every_task_ranks_alike():
    ctx = context({})
    assert {ctx.remaining_s(n) for n in "abcde"} == {0.0}
