"""Never worse than no plan (issue 25, item 2): a plan against the WUKONG run on the same model."""

from __future__ import annotations

from orchestrator import planning
from orchestrator.planning import guard
from orchestrator.planning.predictor import Predictor
from tests.planning_support import OPTIONS, config, graph, history, same_everywhere


def wide_fan() -> dict:
    """r → eight independent 1 s tasks → s."""
    return graph(
        {"r": ("m.r", []), **{f"c{i}": ("m.c", ["r"]) for i in range(8)}, "s": ("m.s", [f"c{i}" for i in range(8)])}
    )


def test_the_plan_is_kept_when_wukong_is_slower():
    """A chain: one worker runs it warm end to end; WUKONG's executors are the same worker, so
    nothing is faster or cheaper and the plan stays (the note says against what)."""
    g = graph({"a": ("m.f", []), "b": ("m.f", ["a"]), "c": ("m.f", ["b"])})
    h = history(same_everywhere(["m.f"], 0.5))
    plan = planning.get("uniform")(g, Predictor(h), config("uniform"))
    assert plan.versus_flexible["kept"] == "planned"
    assert {tp.worker for tp in plan.tasks.values()} == {"w0"}
    assert "kept over WUKONG" in plan.note


def test_a_plan_slower_than_wukong_at_equal_cost_gives_way_to_it():
    """Pools of two processes, 0.3 s tasks, 50 ms transfers: uniform's rules give the fan-out's
    children workers of their own, which queue for the two processes a branch at a time; WUKONG's two
    executors pop the children back to back (2.5 s against 2.9 s in the model). Its simulated run is
    faster at no more cost: the plan becomes the flexible one, promised from the simulated placement."""
    g = wide_fan()
    h = history(same_everywhere(["m.r", "m.c", "m.s"], 0.3), cold_s=0.1, transfer_s=0.05)
    cfg = config("uniform", pool_size=2)
    without = planning.get("uniform")(g, Predictor(h), config("uniform", pool_size=2, compare_flexible=False))
    plan = planning.get("uniform")(g, Predictor(h), cfg)
    record = plan.versus_flexible
    assert record["kept"] == "flexible", record
    assert record["reason"] in ("faster at equal cost", "cheaper within the SLA")
    assert all(tp.worker is None for tp in plan.tasks.values())  # the runtime runs it as WUKONG
    assert {tp.sim_worker for tp in plan.tasks.values()} <= {"w0", "w1"}  # two simulated executors
    assert plan.predicted_median_s == record["flexible"]["typical_s"]
    assert record["planned"]["typical_s"] == without.predicted_median_s
    assert plan.predicted_median_s < without.predicted_median_s * (1 - guard.NOISE)
    assert plan.predicted_gb_seconds <= without.predicted_gb_seconds * (1 + guard.COST_SLACK)
    assert "kept over the planned layout" in plan.note
    assert plan.floor  # the kept run's promise is held to the physical floor too
    assert plan.promises["p90"] >= plan.floor["seconds"]


def test_non_uniform_keeps_its_cheaper_plan_when_wukong_is_only_as_fast():
    """Tasks that sleep are as fast on 512 MB: non-uniform downgrades them and costs a quarter of
    WUKONG on the default 2048 MB, at about the same makespan — the plan is kept."""
    g = wide_fan()
    h = history({fn: {mb: 1.0 for mb in OPTIONS} for fn in ("m.r", "m.c", "m.s")})
    plan = planning.get("non-uniform")(g, Predictor(h), config("non-uniform"))
    record = plan.versus_flexible
    assert record["kept"] == "planned", record
    assert record["planned"]["gb_seconds"] < record["flexible"]["gb_seconds"] * (1 - guard.NOISE)
    assert any(tp.memory_mb < 2048 for tp in plan.tasks.values())


def test_the_rule_itself():
    side = guard.Side
    base = side(typical_s=10.0, promise_s=12.0, gb_s=10.0)
    assert side(9.0, 11.0, 10.5).beats(base) == "faster at equal cost"
    assert side(9.0, 11.0, 12.0).beats(base) is None  # faster, but 20 % dearer
    assert side(9.9, 11.9, 10.0).beats(base) is None  # 1 % faster is noise
    assert side(10.0, 12.0, 8.0).beats(base) == "cheaper within the SLA"
    assert side(10.0, 12.5, 8.0).beats(base) is None  # cheaper, but it would promise later
    assert base.beats(base) is None


def test_the_comparison_can_be_switched_off():
    g = wide_fan()
    h = history(same_everywhere(["m.r", "m.c", "m.s"], 1.0), cold_s=1.0)
    plan = planning.get("uniform")(g, Predictor(h), config("uniform", pool_size=2, compare_flexible=False))
    assert plan.versus_flexible == {}
    assert all(tp.worker is not None for tp in plan.tasks.values())


def test_wukong_is_simulated_with_the_executors_the_runtime_gives_it_not_the_pool():
    """Pools of 16 processes on 2 cores: the runtime runs no more than 2 executors (``executor_cap``), so
    WUKONG's simulated run has 2, and its cost is theirs — not 16 executors' standing through the run,
    which made it look eight times as dear as it is (and kept a slower plan on "cost")."""
    g = wide_fan()
    h = history(same_everywhere(["m.r", "m.c", "m.s"], 0.3), cold_s=0.1, transfer_s=0.05)
    capped = guard.flexible_plan(
        planning.evaluate.Planning(g, Predictor(h), config("uniform", pool_size=16, executors=2)), 2048, "two"
    )
    pool = guard.flexible_plan(planning.evaluate.Planning(g, Predictor(h), config("uniform", pool_size=16)), 2048, "16")
    assert {tp.sim_worker for tp in capped.tasks.values()} == {"w0", "w1"}
    assert len({tp.sim_worker for tp in pool.tasks.values()}) > 2
    assert capped.predicted_gb_seconds < pool.predicted_gb_seconds
