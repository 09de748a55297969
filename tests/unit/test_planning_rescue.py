"""Rescue's re-plan (issue 25, item 5), pure over a compact plan."""

from __future__ import annotations

from orchestrator.planning import rescue


def test_tasks_not_started_below_the_largest_configuration_move_and_the_price_is_estimated():
    plan = {
        "a": {"m": 512, "w": "w0", "s": 0.0, "e": 1.0},
        "b": {"m": 512, "w": "w0", "s": 1.0, "e": 2.0},
        "c": {"m": 1024, "w": "w1", "s": 1.0, "e": 3.0},
        "d": {"m": 2048, "w": "w2", "s": 3.0, "e": 4.0},
        "m": {"m": 512, "w": None, "s": 3.0, "e": 3.5},
    }
    r = rescue.replan(plan, started=["a", "m[0]"], memory_options=(512, 1024, 2048), pace=1.5)
    assert r.to_mb == 2048 and r.moved == {"b": 512, "c": 1024}  # a done, m's elements begun, d already largest
    assert r.extra_gb_s == 1.0 * 1.5 * 1.5 + 2.0 * 1.5 * 1.0
    event = r.to_event()
    assert event["kind"] == rescue.REPLAN and event["moved"] == 2 and event["tasks"] == ["b", "c"]
    faster = rescue.replan(plan, started=[], memory_options=(512, 2048), pace=0.5)
    assert faster.extra_gb_s == 1.5 + 1.5 + 2.0 * 1.0 + 0.5 * 1.5  # a pace below 1 never lowers the price


def test_nothing_to_move_says_so():
    r = rescue.replan({"a": {"memory_mb": 2048, "start_s": 0, "end_s": 1}}, started=[], memory_options=(512, 2048))
    assert r.moved == {} and r.extra_gb_s == 0 and "nothing to move" in r.reason
