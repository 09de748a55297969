"""The calibration figures over plain rows (the command runs real workflows; figures are pure)."""

import pytest

from experiments.bench.calibration import figures


def row(made, typical, p50, p90):
    return {"makespan_s": made, "typical_s": typical, "promises": {"p50": p50, "p90": p90}}


def test_figures_judge_runs_two_to_six_and_the_steady_overshoot_on_eight_to_twelve():
    rows = [row(3.0, None, None, None)]  # run 1: the no-history fallback
    rows += [
        row(2.0, 2.2, 2.1, 2.4),
        row(2.0, 1.8, 1.9, 2.2),
        row(2.0, 2.0, 2.0, 2.3),
        row(2.5, 2.0, 2.1, 2.4),
        row(2.0, 2.1, 2.1, 2.5),
    ]
    rows += [row(2.0, 2.0, 2.0, 2.2)] * 7  # runs 7-13
    f = figures(rows)
    assert f["early_typical_error_median"] == pytest.approx(0.1)  # errors 0.1, 0.1, 0, 0.2, 0.05
    assert f["early_within_p50"] == pytest.approx(3 / 5) and f["early_within_p90"] == pytest.approx(4 / 5)
    assert f["steady_p90_overshoot_median"] == pytest.approx(0.1)
    assert f["residual_median"] == pytest.approx(1.0)


def test_figures_of_too_few_runs_say_none():
    f = figures([row(3.0, None, None, None)])
    assert f["early_typical_error_median"] is None and f["early_within_p50"] is None
    assert f["steady_p90_overshoot_median"] is None
