"""The calibration suite's figures (issue 25, item 3), pure over plain rows."""

from __future__ import annotations

import pytest

from experiments.bench import suite


def row(made, typical=None, p50=None, p90=None, p95=None, kept=None):
    promises = {k: v for k, v in (("p50", p50), ("p90", p90), ("p95", p95)) if v is not None}
    return {"makespan_s": made, "typical_s": typical, "promises": promises, "kept": kept}


def test_per_dag_figures():
    rows = [row(20.0)]  # run 1: the no-history fallback, no promise
    rows += [row(10.0, typical=9.0, p50=10.0, p90=11.0, p95=12.0) for _ in range(3)]  # within all
    rows += [row(11.5, typical=9.0, p50=10.0, p90=11.0, p95=12.0, kept="flexible")]  # only within p95
    rows += [row(10.0, typical=10.0, p50=3.0, p90=11.0, p95=12.0)]  # p50 below the floor of 4 s
    out = suite.dag_figures(rows, wukong=[9.0, 10.0, 10.2], floor_s=4.0)
    assert out["early_runs"] == "2-6" and out["window_runs"] == "2-6"
    # runs 2-6 typical errors: .1 .1 .1 (11.5-9)/11.5 0 → median .1; p50 errors 0 0 0 .13 .7 → 0
    assert out["typical_error"] == pytest.approx(0.1)
    assert out["promise_error"] == pytest.approx(0.0)
    assert out["attainment"]["p50"] == pytest.approx(3 / 5)
    assert out["attainment"]["p90"] == pytest.approx(4 / 5)
    assert out["attainment"]["p95"] == 1.0 and out["attainment"]["p95_runs"] == 5
    assert out["below_floor"] == 1
    assert out["kept_flexible"] == 1
    assert out["planned_over_wukong"] == pytest.approx(10.0 / 10.0)
    assert out["noise"] == pytest.approx(0.12) and out["slower_than_wukong"] is False


def test_a_planned_run_slower_than_wukong_beyond_noise_is_a_failure():
    rows = [row(5.0)] + [row(13.0, typical=12.0, p50=12.5, p90=14.0, p95=15.0) for _ in range(5)]
    out = suite.dag_figures(rows, wukong=[10.0, 10.1, 10.2], floor_s=1.0)
    assert out["planned_over_wukong"] == pytest.approx(1.3 / 1.01, rel=1e-3)
    assert out["slower_than_wukong"] is True
    within = suite.dag_figures(rows, wukong=[12.6, 13.0, 13.1], floor_s=1.0)
    assert within["slower_than_wukong"] is False


def test_summary_against_the_targets_names_the_dags_that_miss():
    good = [row(1.0)] + [row(10.0, typical=10.0, p50=10.0 + d, p90=12.0, p95=13.0) for d in (-0.5, 0.5) * 5]
    bad = [row(1.0)] + [row(10.0, typical=5.0, p50=5.0, p90=6.0, p95=7.0) for _ in range(10)]
    dags = [suite.dag_figures(good, [10.0] * 3, 1.0) | {"dag": 1}, suite.dag_figures(bad, [5.0] * 3, 8.0) | {"dag": 2}]
    s = suite.summary(dags)
    assert s["attainment"]["p50"] == pytest.approx(5 / 20)  # pooled over both DAGs' runs
    assert s["targets"]["p90"]["dags_missing"] == [2] and s["targets"]["p90"]["met"] is False
    assert s["targets"]["promise_error"]["dags_missing"] == [2]
    assert s["targets"]["below_floor"]["dags_missing"] == [2] and s["below_floor"] == 30
    assert s["slower_than_wukong"] == [2]
    assert "MISSED" in suite.summary_line(s)


def test_wukong_runs_are_spread_among_the_planned_ones():
    assert suite.wukong_after(21, 3) == {2, 8, 15}
    assert suite.wukong_after(4, 1) == {2}
    assert suite.wukong_after(1, 3) == set()
