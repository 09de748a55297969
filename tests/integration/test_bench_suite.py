"""``bench calibration --suite`` end to end on real workers (issue 25, item 3): a tiny suite."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orchestrator.models import WorkflowRun

pytestmark = [pytest.mark.integration]


def test_a_tiny_suite_runs_each_dag_from_no_history_and_reports_every_figure(live, settings):
    settings.SLAFLOW_COMPARE_WUKONG = True  # as deployed: each plan against the WUKONG run on the same model
    out, err = StringIO(), StringIO()
    args = [
        "bench",
        "calibration",
        "--suite",
        "--dags",
        "2",
        "--iterations",
        "3",
        "--wukong-runs",
        "1",
        "--recipe",
        "srasearch",
        "--wf-tasks",
        "24-30",
        "--wf-cpu",
        "0.4",
        "--wf-mb",
        "4",
        "--wf-max-mb",
        "1",
        "--seed",
        "11",
        "--json",
    ]
    call_command(*args, stdout=out, stderr=err)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    dags, summary = lines[:-1], lines[-1]["summary"]
    assert "seed 11 (replay with --seed 11)" in err.getvalue()
    assert [d["variant"] for d in dags] == ["cpu", "data"] and [d["dag"] for d in dags] == [1, 2]
    for d in dags:
        assert d["recipe"] == "srasearch" and 24 <= d["tasks"] <= 30
        runs = WorkflowRun.objects.filter(workflow__name=d["name"])
        assert runs.filter(planner="uniform").count() == 3 and runs.filter(planner="wukong").count() == 1
        assert [r["typical_s"] is None for r in d["rows"]] == [True, False, False]  # run 1: no history
        assert all(set(r["promises"]) == {"p50", "p90", "p95"} for r in d["rows"][1:])
        assert d["promise_error"] is not None and d["typical_error"] is not None
        assert d["early_runs"] == "2-6" and d["window_runs"] == "2-3"
        for key in ("p50", "p90", "p95"):
            assert d["attainment"][f"{key}_runs"] == 2 and 0 <= d["attainment"][key] <= 1
        assert d["p90_overshoot"] is not None and d["floor_s"] > 0
        assert d["below_floor"] == 0  # no promise below what the machine can do
        assert len(d["wukong_makespans"]) == 1
        assert d["planned_over_wukong"] == pytest.approx(d["planned_makespan_median"] / d["wukong_makespan_median"])
        assert isinstance(d["slower_than_wukong"], bool) and 0 <= d["kept_flexible"] <= 2
        assert all(r["kept"] in ("planned", "flexible") for r in d["rows"][1:])  # every plan was compared
    assert summary["dags"] == 2 and summary["seed"] == 11
    assert set(summary["targets"]) == {"promise_error", "p50", "p90", "planned_over_wukong", "below_floor"}
    assert summary["below_floor"] == 0 and summary["targets"]["below_floor"]["met"] is True

    # The same seed again: the same DAGs, which now have history — refused, nothing run.
    before = WorkflowRun.objects.count()
    with pytest.raises(CommandError, match="already has runs in this database"):
        call_command(*args, stdout=StringIO(), stderr=StringIO())
    assert WorkflowRun.objects.count() == before


def test_suite_options_are_checked():
    with pytest.raises(CommandError, match="--suite needs --iterations ≥ 2"):
        call_command("bench", "calibration", "--suite", "--iterations", "1")
    with pytest.raises(CommandError, match="--wf-tasks '300-30' must be LO-HI"):
        call_command("bench", "calibration", "--suite", "--wf-tasks", "300-30")
