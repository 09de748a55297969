"""Promise calibration from past runs' residuals (observed / predicted median)."""
import random

import pytest

from orchestrator.planning import calibration
from orchestrator.sla import parse


def test_weighted_quantile_interpolates_between_mid_points():
    values = [float(v) for v in range(1, 21)]  # 1..20, the i-th at (i - 0.5) / 20
    assert calibration.weighted_quantile(values, 50) == pytest.approx(10.5)
    assert calibration.weighted_quantile(values, 90) == pytest.approx(18.5)
    assert calibration.weighted_quantile([1.0, 2.0], 99) == 2.0  # beyond the last mid-point: the largest
    assert calibration.weighted_quantile([1.0, 2.0], 1) == 1.0
    assert calibration.weighted_quantile([1.0, 3.0], 50, [1.0, 3.0]) == pytest.approx(2.5)  # mid-points 1/8, 5/8
    with pytest.raises(ValueError):
        calibration.weighted_quantile([], 50)


def test_no_factor_until_enough_runs():
    assert calibration.factor([1.0] * (calibration.MIN_RUNS - 1), parse("p90")) is None
    assert calibration.factor([1.0] * calibration.MIN_RUNS, parse("p90")) == 1.0


def test_average_uses_the_weighted_mean_of_the_recent_window():
    old = [10.0] * 50
    recent = [2.0] * 30  # the last WINDOW (30) values
    assert calibration.factor(old + recent, parse("average")) == pytest.approx(2.0)
    assert calibration.factor([1.0, -1.0, float("nan"), 1.0, 1.0, 1.0, 1.0], parse("p50")) == 1.0


def test_recent_runs_weigh_more():
    w = calibration.weights(21, half_life=10)
    assert w[-1] == 1.0 and w[-11] == pytest.approx(0.5) and w[0] == pytest.approx(0.25)
    assert calibration.weights(6)[0] == pytest.approx(0.5)  # the default half-life: 5 runs
    # A workflow that got 10 % slower ten runs ago: the median follows the recent runs.
    drifted = [1.0] * 20 + [1.1] * 10
    assert calibration.factor(drifted, parse("p50")) == pytest.approx(1.1)


@pytest.mark.parametrize("pct", [50, 90])
def test_promises_built_from_past_residuals_hold_about_n_percent_of_the_time(pct):
    """Residuals from one lognormal noise: new runs fall within median × factor about pct % of the time."""
    rng = random.Random(7)
    hits = trials = 0
    for _ in range(400):
        past = [rng.lognormvariate(0.1, 0.15) for _ in range(calibration.WINDOW)]
        factor = calibration.factor(past, parse(f"p{pct}"))
        for _ in range(20):
            trials += 1
            hits += rng.lognormvariate(0.1, 0.15) <= factor
    assert abs(hits / trials - pct / 100) < 0.03
