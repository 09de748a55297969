"""Promise calibration from past runs' residuals (observed / predicted median)."""

import random

import pytest

from orchestrator.core.sla import parse
from orchestrator.planning import calibration
from orchestrator.planning.predictor import Predictor


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


# --- replaying past runs with today's predictor ---------------------------------------------


def _chain_plan(past_runs=(), sla="p90", **kw):
    """a → b → c on one worker, 0.2 s per task at every size, no spread."""
    from orchestrator.planning import uniform
    from tests.planning_support import config, graph, history, same_everywhere

    g = graph({"a": ("m.f", []), "b": ("m.g", ["a"]), "c": ("m.h", ["b"])})
    h = history(same_everywhere(["m.f", "m.g", "m.h"], 0.2))
    return uniform.plan(g, Predictor(h), config("uniform", sla, past_runs=tuple(past_runs), **kw))


def test_past_runs_are_replayed_so_an_old_misprediction_does_not_inflate_the_promise():
    """Each past run took 1.2 × what today's predictor expects of its layout; whatever its own plan
    promised back then, the new promise is today's typical makespan × 1.2."""
    base = _chain_plan()
    typical = base.predicted_median_s
    placement = {nid: ("w0", 2048) for nid in "abc"}
    past = [calibration.PastRun(makespan_s=1.2 * typical, placement=placement) for _ in range(calibration.MIN_RUNS)]
    plan = _chain_plan(past)
    assert plan.calibration["runs"] == calibration.MIN_RUNS
    assert plan.calibration["factor"] == pytest.approx(1.2)
    assert plan.predicted_makespan_s == pytest.approx(1.2 * typical, rel=1e-4)
    # Too few runs: the Monte Carlo percentile, uncalibrated.
    few = _chain_plan(past[:-1])
    assert few.calibration["factor"] is None and few.predicted_makespan_s == pytest.approx(base.predicted_makespan_s)


def test_a_past_run_is_replayed_with_its_own_layout_and_warm_processes():
    """Split over three workers the chain uploads between them and starts three processes; a past
    run laid out that way is judged against that layout's typical time, not today's plan's."""
    base = _chain_plan()
    spread_out = {"a": ("w0", 2048), "b": ("w1", 2048), "c": ("w2", 2048)}
    cold = [calibration.PastRun(makespan_s=base.predicted_median_s, placement=spread_out)] * calibration.MIN_RUNS
    plan = _chain_plan(cold)
    assert plan.calibration["factor"] < 0.9  # that layout is slower, so this run was faster than typical
    warm = [
        calibration.PastRun(makespan_s=base.predicted_median_s, placement=spread_out, warm_processes=((2048, 0.5),) * 3)
    ] * calibration.MIN_RUNS
    assert _chain_plan(warm).calibration["factor"] > plan.calibration["factor"]  # no cold starts to blame


def test_a_past_layout_this_graph_cannot_take_is_ignored():
    flexible = {nid: (None, 2048) for nid in "abc"}
    other_graph = {"x": ("w0", 2048)}
    plan = _chain_plan([calibration.PastRun(1.0, flexible), calibration.PastRun(1.0, other_graph)] * 3)
    assert plan.calibration["runs"] == 0 and plan.calibration["factor"] is None


def test_a_plan_on_warm_processes_is_calibrated_by_the_runs_that_started_none():
    """Five runs on a warm process took 1.1× the typical time, the five since (which started it) 2×.
    A plan that finds its process warm is promised 1.1×; one that must start it, the wider
    calibration of all ten runs."""
    on_w0 = {nid: ("w0", 2048) for nid in "abc"}
    cold_typical = _chain_plan().predicted_median_s
    warm_typical = _chain_plan(warm_processes=((2048, 0.5),)).predicted_median_s
    assert warm_typical < cold_typical
    started = [calibration.PastRun(makespan_s=2.0 * cold_typical, placement=on_w0)] * calibration.MIN_RUNS
    warm = [
        calibration.PastRun(makespan_s=1.1 * warm_typical, placement=on_w0, warm_processes=((2048, 0.5),))
    ] * calibration.MIN_RUNS
    cold_plan = _chain_plan(warm + started)
    warm_plan = _chain_plan(warm + started, warm_processes=((2048, 0.5),))
    assert warm_plan.calibration["factor"] == pytest.approx(1.1)
    assert warm_plan.calibration["steady_factor"] == pytest.approx(1.1)
    assert warm_plan.calibration["basis"] == "runs that started no process"
    assert warm_plan.calibration["steady_runs"] == calibration.MIN_RUNS
    assert cold_plan.calibration["basis"] == "all runs"
    assert cold_plan.calibration["factor"] == cold_plan.calibration["all_runs_factor"] > 1.3
    assert warm_plan.predicted_makespan_s == pytest.approx(1.1 * warm_plan.predicted_median_s, rel=1e-4)
    # Too few warm runs: every plan takes the calibration of all runs.
    few = _chain_plan(warm[:-1] + started, warm_processes=((2048, 0.5),))
    assert few.calibration["steady_factor"] is None and few.calibration["factor"] == few.calibration["all_runs_factor"]


def test_plans_record_what_a_replay_needs():
    from orchestrator.planning.plan import Plan

    plan = _chain_plan()
    data = Plan.from_dict(plan.to_dict())
    assert data.warm_processes == [] and data.yield_before == []


def test_one_slow_early_run_does_not_lift_every_later_p90_promise():
    """Ten runs within ±5 % of typical and one (the oldest) at 1.6×: the p90 promise stays near the
    ten, where the empirical 90th percentile of eleven would sit near the outlier."""
    steady = [1.0, 1.05, 0.95, 1.02, 0.98, 1.04, 0.96, 1.01, 0.99, 1.03]
    f = calibration.factor([1.6] + steady, parse("p90"))
    assert 1.03 < f < 1.15
    assert calibration.factor(steady + [1.6], parse("p50")) == pytest.approx(1.02, abs=0.02)


@pytest.mark.parametrize(
    "q, dof, expected",
    [
        # Reference quantiles of Student's t (tables; the same as scipy.stats.t.ppf to these digits).
        (0.95, 1.5, 3.7052),
        (0.99, 1.5, 11.1973),
        (0.90, 8, 1.3968),
        (0.95, 4, 2.1318),
        (0.99, 10, 2.7638),
        (0.50, 3, 0.0),
    ],
)
def test_student_t_matches_reference_quantiles(q, dof, expected):
    assert calibration.student_t(q, dof) == pytest.approx(expected, abs=5e-4)


def test_student_t_approaches_the_normal_quantile():
    assert calibration.student_t(0.9, 1e6) == pytest.approx(1.2816, abs=1e-4)
