"""The predictor on synthetic history with known answers."""

import numpy as np
import pytest

from orchestrator.core.sla import parse
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample
from orchestrator.planning.predictor import (
    DEFAULT_COLD_S,
    PredictionError,
    Predictor,
    related,
    size_key,
    statistic,
    time_scale,
)


def task_history(by_mb: dict[int, list[float]], fn="m.f", size=0, out=10) -> History:
    h = History()
    for mb, times in by_mb.items():
        for t in times:
            h.add_task(fn, mb, TaskSample(size, t, out))
    return h


# --- the exact-configuration rule and normalisation ---------------------------------------


def test_six_samples_on_the_exact_memory_are_used_as_they_are():
    h = task_history({1024: [2.0] * 6, 2048: [1.0] * 10})
    assert Predictor(h).exec_time("m.f", 1024, 0, "p50") == pytest.approx(2.0)


def test_fewer_than_six_normalise_everything_to_the_baseline_with_exponent_0_3():
    # 5 samples at 1024 MB (2.0 s) + 10 at 2048 MB (1.0 s): the 2048 ones become
    # 1.0 × (2048/1024)^0.3 = 1.2311 s at 1024 MB; the median is one of them.
    h = task_history({1024: [2.0] * 5, 2048: [1.0] * 10})
    assert Predictor(h).exec_time("m.f", 1024, 0, "p50") == pytest.approx(2**0.3)
    # A size with no samples at all: from 2048 MB down to 512 MB is × 4^0.3.
    h = task_history({2048: [1.0] * 10})
    assert Predictor(h).exec_time("m.f", 512, 0, "p50") == pytest.approx(4**0.3)
    assert time_scale(2048, 512) == pytest.approx(4**0.3)


def test_speeds_normalise_the_other_way():
    h = History()
    for _ in range(10):
        h.add_download(2048, TransferSample(1_000_000, 0.01))  # 100 MB/s at 2048 MB
    # At 512 MB the speed is 100 MB/s × (512/2048)^0.3, so the time grows by 4^0.3.
    assert Predictor(h).download_time(1_000_000, 512, "p50") == pytest.approx(0.01 * 4**0.3)


def test_tiny_transfers_say_nothing_about_the_speed_of_big_ones():
    # A few 1-byte downloads (1 ms each: latency) beside two 16 MB ones at 200 MB/s. Speeds from the
    # tiny ones (1 kB/s) would predict hours for 32 MB; only samples above the floor give the speed.
    h = History()
    for _ in range(3):
        h.add_download(2048, TransferSample(1, 0.001))
    for _ in range(2):
        h.add_download(2048, TransferSample(16_000_000, 0.08))
    p = Predictor(h)
    assert p.download_time(32_000_000, 2048, "p90") == pytest.approx(0.16)
    assert p.download_time(32_000_000, 2048, "average") == pytest.approx(0.16)
    assert p.download_time(1, 2048, "p50") == pytest.approx(0.001)  # small ones keep their own times
    only_tiny = History()
    only_tiny.add_download(2048, TransferSample(1, 0.001))
    assert Predictor(only_tiny).download_time(32_000_000, 2048, "p90") < 1.0  # the default speed, not hours


# --- percentile directions -------------------------------------------------------------------


def test_times_use_the_nth_percentile_and_speeds_the_100_minus_nth():
    times = [float(t) for t in range(1, 11)]  # 1..10 s
    h = task_history({2048: times})
    p = Predictor(h)
    assert p.exec_time("m.f", 2048, 0, "p90") == pytest.approx(np.percentile(times, 90))
    assert p.exec_time("m.f", 2048, 0, "p10") == pytest.approx(np.percentile(times, 10))
    assert p.exec_time("m.f", 2048, 0, "average") == pytest.approx(5.5)

    h = History()
    speeds = [10e6 * k for k in range(1, 11)]  # 10..100 MB/s on 1 MB transfers
    for s in speeds:
        h.add_upload(2048, TransferSample(1_000_000, 1_000_000 / s))
    p = Predictor(h)
    slow = 1_000_000 / np.percentile(speeds, 10)
    assert p.upload_time(1_000_000, 2048, "p90") == pytest.approx(slow)  # pessimistic: a slow speed
    assert p.upload_time(1_000_000, 2048, "p90") > p.upload_time(1_000_000, 2048, "p50")
    # average: the mean time, not the time at the mean speed (which would be optimistic)
    mean_time = np.mean([1_000_000 / s for s in speeds])
    assert p.upload_time(1_000_000, 2048, "average") == pytest.approx(mean_time)
    assert mean_time > 1_000_000 / np.mean(speeds)


def test_statistic_matches_numpy_percentiles():
    rng = np.random.default_rng(4)
    v = rng.lognormal(size=37)
    for q in (1, 33, 50, 90, 99):
        assert statistic(v, parse(f"p{q}")) == pytest.approx(np.percentile(v, q))
        assert statistic(v, parse(f"p{q}"), speed=True) == pytest.approx(np.percentile(v, 100 - q))


# --- related samples and sizes -----------------------------------------------------------------


def test_related_samples_widen_the_window_until_five():
    sizes = np.arange(0, 1001, 10, dtype=float) * 1e6  # 0, 10, …, 1000 MB
    # ±5 % of 500 MB (476–525 MB): 480, 490, 500, 510, 520.
    assert list(sizes[related(sizes, 500e6)] / 1e6) == [480, 490, 500, 510, 520]
    # Sparse sizes: only three within half to twice 100 MB (50–200) → those three, not farther ones.
    sparse = np.array([60.0, 70, 90, 5000, 6000, 7000, 8000]) * 1e6
    assert sorted(sparse[related(sparse, 100e6)] / 1e6) == [60, 70, 90]
    # None that close: the five closest in ratio (3 MB is no nearer to 100 MB than 3.3 GB).
    far = np.array([1.0, 2, 3, 3300, 6000, 7000, 8000]) * 1e6
    assert sorted(far[related(far, 100e6)] / 1e6) == [2, 3, 3300, 6000, 7000]
    # Below the scaling floor every size is one size: all of them, however they differ.
    tiny = np.array([1.0, 2, 3, 50, 900, 2000])
    assert len(related(tiny, 10)) == 6


def test_a_far_sample_does_not_blow_up_a_prediction_when_a_near_one_is_known():
    """Epigenomics' mapMerge merged 3.9 MB into 45.9 MB in one task and 181 MB into 43.9 MB in
    another; a plan asking for 290 MB of input scaled the small one 74x per byte: a 6 GB output
    and, downstream, a 27 s task for a 0.2 s one (a promise of 76 s for a 7 s run)."""
    h = History()
    for run in range(2):
        h.add_task("m.merge", 2048, TaskSample(3_900_000, 0.03, 45_900_000, run=run))
        h.add_task("m.merge", 2048, TaskSample(181_000_000, 0.02, 43_900_000, run=run))
    p = Predictor(h)
    assert p.output_bytes("m.merge", 2048, 290_000_000) == pytest.approx(43_900_000 * 290 / 181, rel=0.01)
    assert p.exec_time("m.merge", 2048, 290_000_000, "p50") == pytest.approx(0.02 * 290 / 181, rel=0.01)
    assert p.output_bytes("m.merge", 2048, 4_000_000) == pytest.approx(45_900_000 * 4 / 3.9, rel=0.01)


def test_related_samples_keep_up_to_100_balanced_around_the_size():
    sizes = np.sort(np.concatenate([np.full(150, 99e6), np.full(150, 101e6)]))
    idx = related(sizes, 100e6)
    assert len(idx) == 100
    assert (sizes[idx] == 99e6).sum() == 50 and (sizes[idx] == 101e6).sum() == 50


def test_exec_time_scales_per_input_byte_only_above_the_floor():
    h = task_history({2048: [1.0] * 10}, size=100_000)
    p = Predictor(h)
    assert p.exec_time("m.f", 2048, 110_000, "p50") == pytest.approx(1.1)
    h = task_history({2048: [1.0] * 10}, size=100)
    assert Predictor(h).exec_time("m.f", 2048, 300, "p50") == pytest.approx(1.0)  # overhead, not bytes


def test_output_size_uses_the_median_ratio_even_for_p90():
    h = History()
    for k in range(1, 11):
        h.add_task("m.f", 2048, TaskSample(100_000, 1.0, 10_000 * k))
    p = Predictor(h)
    assert p.output_bytes("m.f", 2048, 100_000, "p90") == int(np.median([10_000 * k for k in range(1, 11)]))


# --- caches -------------------------------------------------------------------------------------


def test_caches_hit_and_belong_to_one_predictor():
    h = task_history({2048: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, size=100_000)
    p = Predictor(h)
    first = p.exec_time("m.f", 2048, 100_000, "p90")
    misses = p.misses
    assert p.exec_time("m.f", 2048, 100_000, "p90") == first
    assert p.hits >= 1 and p.misses == misses
    p.exec_time("m.f", 2048, 100_040, "p90")  # the same size to 3 significant digits
    assert p.misses == misses
    other = Predictor(h)
    other.exec_time("m.f", 2048, 100_000, "p90")
    assert other.hits == 0 and other.misses > 0  # nothing shared between instances
    assert size_key(100_040) == 100_000 and size_key(999) == 999


# --- boundedness and missing data ------------------------------------------------------------------


def test_history_keeps_only_the_newest_samples_per_key():
    h = History(cap=10)
    for k in range(1000):
        h.add_task("m.f", 2048, TaskSample(0, float(k), 1))
        h.add_download(2048, TransferSample(10, float(k)))
        h.add_startup(2048, "new", StartupSample(float(k)))
    assert len(h.tasks[("m.f", 2048)]) == 10 and h.tasks[("m.f", 2048)][0].exec_s == 990.0
    assert h.size() == 30
    # Predictions see only the newest ten: their median is 994.5.
    assert Predictor(h).exec_time("m.f", 2048, 0, "p50") == pytest.approx(994.5)
    with pytest.raises(ValueError, match="cap"):
        History(cap=0)


def test_missing_kinds_fall_back_and_are_reported():
    h = task_history({2048: [1.0] * 6})
    p = Predictor(h)
    assert p.startup_time(2048, "new", "p90") == DEFAULT_COLD_S
    assert p.download_time(1000, 2048, "p90") > 0
    assert "start-up times" in p.defaults_used and "download speed" in p.defaults_used
    with pytest.raises(PredictionError, match="no history for function 'm.g'"):
        p.exec_time("m.g", 2048, 0, "p90")
    assert p.missing_functions(["m.f", "m.g"]) == ["m.g"]


def test_startups_by_kind_and_their_billed_part():
    h = History()
    for k in range(6):
        h.add_startup(1024, "new", StartupSample(1.0 + k / 10, 0.2))
        h.add_startup(1024, "warm", StartupSample(0.01, 0.001))
    p = Predictor(h)
    assert p.startup_time(1024, "new", "p50") == pytest.approx(1.25)
    assert p.startup_time(1024, "warm", "p90") == pytest.approx(0.01)
    assert p.billed_startup(1024, "new") == pytest.approx(0.2)
    # 512 MB has no samples: normalised from 1024 (× 2^0.3).
    assert p.startup_time(512, "warm", "p50") == pytest.approx(0.01 * 2**0.3)
    # No cold start on an existing process seen yet: a warm one plus the extra set-up a
    # new process did once running (0.2 - 0.001 s), without the spawn itself.
    assert p.startup_time(1024, "cold", "p50") == pytest.approx(0.01 + 0.199)
    assert "cold start-ups from warm ones" in p.defaults_used
    with pytest.raises(ValueError, match="start-up kind"):
        h.add_startup(1024, True, StartupSample(0.1))


def test_recent_runs_weigh_more_in_run_factors():
    h = History()
    h.run_factors = {run: 1.0 + run / 100 for run in range(1, 31)}
    values, weights = Predictor(h).run_factors()
    assert list(values) == sorted(values) and weights.sum() == pytest.approx(1.0)
    assert weights[-1] == pytest.approx(2 * weights[-11])  # ten runs older: half the weight
    assert Predictor(History()).run_factors()[0].tolist() == [1.0]


# --- scaling across configurations with the CPU a task used ------------------------------------


def test_a_sleeping_task_is_as_fast_on_any_configuration_and_a_cpu_bound_one_scales_with_cpus():
    from orchestrator.planning.predictor import cpu_speed, exec_at

    assert cpu_speed(512) == 0.29 and cpu_speed(2048) == 1.0  # one thread uses at most a core
    assert exec_at(0.2, 0.0, 2048, 512) == pytest.approx(0.2)  # sleeps
    assert exec_at(1.0, 1.0, 2048, 512) == pytest.approx(1.0 / 0.29)  # pure CPU: 3.4 times as long
    # Half waiting, half CPU at 1024 MB (0.57 CPU: 0.5 s of wall time is 0.285 CPU-s of work).
    assert exec_at(1.0, 0.285, 1024, 2048) == pytest.approx(0.5 + 0.285)
    assert exec_at(1.0, None, 1024, 2048) == pytest.approx(2**-0.3)  # unknown CPU: the prior rule
    assert exec_at(1.0, 0.5, 512, 512) == 1.0


def test_predictions_for_a_missing_configuration_use_the_cpu_a_task_used():
    h = History()
    for _ in range(8):  # samples at 2048 MB only: one function sleeps, one computes
        h.add_task("m.sleep", 2048, TaskSample(100, 0.2, 10, cpu_s=0.001))
        h.add_task("m.cpu", 2048, TaskSample(100, 0.2, 10, cpu_s=0.2))
        h.add_task("m.old", 2048, TaskSample(100, 0.2, 10))
    p = Predictor(h)
    assert p.exec_time("m.sleep", 512, 100, "p50") == pytest.approx(0.2, rel=0.02)
    assert p.exec_time("m.cpu", 512, 100, "p50") == pytest.approx(0.2 / 0.29)
    assert p.exec_time("m.old", 512, 100, "p50") == pytest.approx(0.2 * 4**0.3)
    assert p.exec_time("m.cpu", 2048, 100, "p50") == pytest.approx(0.2)  # exact samples as they are
