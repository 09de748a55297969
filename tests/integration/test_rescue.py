"""Rescue on real workers (issue 25, item 5): a run found at risk re-plans its tasks not started yet.

A chain of ``paced`` tasks, planned by uniform on the smallest configuration (the default one for this
test's planning), builds history at its usual pace, then runs five times slower with rescue on: the watcher finds
it at risk, a ``replan`` event is recorded after the alert, and the tasks it moved run on the largest
configuration — flexible, in processes of that size — and the result is still right.
The same slow run without rescue keeps every task where the plan put it.
"""

from __future__ import annotations

import pytest

from orchestrator.models import TaskRun, WorkflowRun
from orchestrator.planning import live as live_rule, rescue as rescue_rule
from slaflow import submit
from tests import taskfns as t
from tests.apiutil import client_for
from tests.waiting import until

pytestmark = [pytest.mark.integration]
TASKS = 8


def chain():
    x = t.value(0)
    for _ in range(TASKS):
        x = t.paced(x)
    return x


def memories(run_id: int) -> list[tuple[str, int, float]]:
    return sorted(
        TaskRun.objects.filter(run_id=run_id, function=t.paced.path).values_list("node_id", "memory_mb", "started_at"),
        key=lambda r: r[2].timestamp(),
    )


def test_a_run_at_risk_with_rescue_moves_its_later_tasks_to_the_largest_configuration(live, redis_server, settings):
    smallest, largest = min(settings.SLAFLOW_RESOURCE_CONFIGS), max(settings.SLAFLOW_RESOURCE_CONFIGS)
    settings.SLAFLOW_DEFAULT_MEMORY_MB = smallest  # uniform and WUKONG plan every task there
    redis_server.delete(t.PACE_KEY)  # 0.4 s a task
    for planner in ("wukong",) * 3 + ("uniform",) * 2:  # history, then planned runs at the usual pace
        handle = submit(chain(), name="rescue-chain", planner=planner, sla="p90")
        assert handle.result(timeout=90) == TASKS
    planned = WorkflowRun.objects.filter(workflow__name="rescue-chain", planner="uniform").order_by("-id")[0]
    assert {mb for _, mb, _ in memories(planned.pk)} == {smallest}
    assert rescue_rule.REPLAN not in [a["kind"] for a in planned.alerts]  # rescue is off by default

    redis_server.set(t.PACE_KEY, 2.0)  # five times slower than its history says
    try:
        slow = submit(chain(), name="rescue-chain", planner="uniform", sla="p90", rescue=True)
        event = until(
            lambda: [a for a in WorkflowRun.objects.get(pk=slow.id).alerts if a["kind"] == rescue_rule.REPLAN],
            timeout_s=60,
            what="a replan event",
        )[0]
        # Re-planned: the tasks not started yet go at the usual pace again (not 2 s each); where they run
        # was decided by the re-plan, which is what is checked below.
        redis_server.delete(t.PACE_KEY)
        assert slow.result(timeout=120) == TASKS  # re-planned mid-run, still right
    finally:
        redis_server.delete(t.PACE_KEY)
    run = WorkflowRun.objects.get(pk=slow.id)
    kinds = [a["kind"] for a in run.alerts]
    assert kinds.index(live_rule.AT_RISK) < kinds.index(rescue_rule.REPLAN)  # the alert first, then the re-plan
    assert event["to_mb"] == largest and 0 < event["moved"] < TASKS and event["predicted_extra_gb_s"] > 0
    rows = memories(slow.id)
    moved = [(nid, mb) for nid, mb, _ in rows if nid in event["tasks"]]
    kept = [mb for nid, mb, _ in rows if nid not in event["tasks"]]
    print(f"\nreplan {event['elapsed_s']:.2f} s in: moved {event['moved']} tasks, ran on {moved}; kept on {kept}")
    assert kept and set(kept) == {smallest}
    # The task running at the re-plan decided its child's place when it started (one snapshot per task, so
    # its output's travel and its child's configuration agree): at most that child stays; the rest move.
    assert len(moved) == event["moved"] and all(mb == largest for _, mb in moved[1:]), moved
    assert moved[-1][1] == largest
    # REST shows the event beside the alerts.
    api = client_for("rescue-watcher", staff=True).get(f"/api/runs/{slow.id}/").json()
    assert rescue_rule.REPLAN in [a["kind"] for a in api["alerts"]]


def test_bench_rescue_measures_both_sides_on_the_slowed_scenario(live):
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "bench",
        "rescue",
        "--chain",
        "4",
        "--busy",
        "0.05",
        "--slowdown",
        "4",
        "--history",
        "3",
        "--repeat",
        "1",
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    row = json.loads(out.getvalue())
    assert row["with"]["runs"] == row["without"]["runs"] == 1 and len(row["rows"]) == 2
    assert [r["rescue"] for r in row["rows"]] == [False, True]
    for side in ("with", "without"):
        assert row[side]["makespan_median"] > 0 and row[side]["gb_seconds_median"] > 0
    assert row["extra_gb_seconds"] == pytest.approx(
        row["with"]["gb_seconds_median"] - row["without"]["gb_seconds_median"], abs=1e-3
    )
    assert not any(r["replanned"] for r in row["rows"] if not r["rescue"])  # never without rescue
    # Slowed runs are deleted once measured: only the history runs stay.
    assert WorkflowRun.objects.filter(workflow__name=row["workflow"]).count() == 3


def test_rest_submissions_turn_rescue_on_per_run_and_refuse_a_non_boolean(live, redis_server):
    import json

    from store import keys

    api = client_for("rescue-rest")
    spec = {
        "nodes": [
            {"id": "a", "function": "tests.taskfns.value", "args": [1]},
            {"id": "b", "function": "tests.taskfns.slow_inc", "args": [{"ref": "a"}, 3]},
        ]
    }
    for wrong in ("sometimes", 0, "true"):  # a JSON boolean only, as the schema says
        bad = api.post("/api/runs/", {"dag": spec, "rescue": wrong}, format="json")
        assert bad.status_code == 400 and "rescue" in bad.json(), bad.content
    assert not WorkflowRun.objects.filter(owner__username="rescue-rest").exists()  # nothing stored half-way
    on = api.post("/api/runs/", {"dag": spec, "rescue": True}, format="json")
    off = api.post("/api/runs/", {"dag": spec}, format="json")
    assert on.status_code == off.status_code == 201, (on.content, off.content)
    flags = {}
    for resp in (on, off):  # read while the runs hold their 3 s task (a run's keys go at its end)
        raw = redis_server.get(keys.meta(resp.json()["id"]))
        flags[resp.json()["id"]] = None if raw is None else json.loads(raw).get("rescue")
    assert flags == {on.json()["id"]: True, off.json()["id"]: False}, flags
