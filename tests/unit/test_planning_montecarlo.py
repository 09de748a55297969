"""Monte Carlo makespan at the SLA on synthetic distributions with known answers.

Each task's exec time is uniform on [1, 2] s (100 evenly spaced samples, recorded in a
random order as a real history would be); transfers, start-ups and overheads are negligible.
"""

import numpy as np
import pytest

from orchestrator.planning.evaluate import Planning
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample
from orchestrator.planning.predictor import Predictor
from tests.planning_support import config, graph

UNIFORM_1_2 = np.linspace(1.0, 2.0, 100)


def quiet_history(functions) -> History:
    h = History()
    for fn in functions:
        for t in np.random.default_rng(5).permutation(UNIFORM_1_2):
            h.add_task(fn, 2048, TaskSample(0, float(t), 8))
    for _ in range(10):
        h.add_download(2048, TransferSample(8, 1e-9))
        h.add_upload(2048, TransferSample(8, 1e-9))
        h.add_store(2048, TransferSample(8, 1e-9))
        for kind in ("warm", "cold", "new"):
            h.add_startup(2048, kind, StartupSample(0.0))
    return h


def evaluate(g, worker_of, sla, seed=0, samples=4000):
    s = Planning(
        g,
        Predictor(quiet_history({n.function for n in g.values()})),
        config("uniform", sla=sla, mc_samples=samples, seed=seed),
    )
    worker = [worker_of(nid) for nid in s.dag.ids]
    return s.evaluate(worker, [2048] * (max(worker) + 1))


def chain(n):
    """t0 → t1 → … → t(n-1), one worker."""
    return graph({f"t{k}": ("m.step", [f"t{k - 1}"] if k else []) for k in range(n)})


def test_chain_promise_is_the_percentile_of_the_sum_not_the_sum_of_percentiles():
    ev = evaluate(chain(10), lambda nid: 0, "p90")
    per_task = 10 * np.percentile(UNIFORM_1_2, 90)  # 19 s: over-promises
    assert ev.timeline.makespan == pytest.approx(per_task, rel=1e-6)
    # The sum of 10 uniforms on [1, 2]: mean 15, sd sqrt(10/12); its 90th percentile ≈ 15 + 1.2816 sd.
    expected = 15 + 1.2816 * np.sqrt(10 / 12)
    assert ev.promise == pytest.approx(expected, abs=0.12)
    assert ev.promise < per_task - 2


def test_wide_fan_in_promise_is_above_the_per_task_estimate():
    """20 parallel tasks on 20 workers → one sink: the max of 20 draws is usually near 2 s."""
    edges = {f"p{k}": ("m.p", []) for k in range(20)}
    edges["s"] = ("m.s", [f"p{k}" for k in range(20)])
    g = graph(edges)
    ev = evaluate(g, lambda nid: 0 if nid == "s" else int(nid[1:]), "p90")
    p90 = np.percentile(UNIFORM_1_2, 90)
    assert ev.timeline.makespan == pytest.approx(2 * p90, rel=1e-3)  # max of p90s + the sink's p90
    # Brute force with another RNG: the 90th percentile of max(20 draws) + 1 draw.
    rng = np.random.default_rng(123)
    brute = rng.choice(UNIFORM_1_2, size=(200_000, 20)).max(axis=1) + rng.choice(UNIFORM_1_2, size=200_000)
    assert ev.promise == pytest.approx(np.percentile(brute, 90), abs=0.03)
    assert ev.promise > ev.timeline.makespan  # the per-task estimate under-promises here


def test_average_promises_the_mean():
    ev = evaluate(chain(6), lambda nid: 0, "average")
    assert ev.promise == pytest.approx(6 * 1.5, abs=0.06)
    assert ev.timeline.makespan == pytest.approx(9.0)


def test_the_rng_is_seeded():
    a = evaluate(chain(5), lambda nid: 0, "p90", seed=7, samples=300).promise
    b = evaluate(chain(5), lambda nid: 0, "p90", seed=7, samples=300).promise
    c = evaluate(chain(5), lambda nid: 0, "p90", seed=8, samples=300).promise
    assert a == b and a != c and c == pytest.approx(a, rel=0.05)


def test_calibration_a_p50_promise_is_met_by_about_half_of_simulated_runs():
    """Draw 'real' runs from the same distributions: about N % finish within a pN promise."""
    rng = np.random.default_rng(11)
    runs = rng.choice(UNIFORM_1_2, size=(5000, 8)).sum(axis=1)
    for sla, share in (("p50", 0.5), ("p90", 0.9)):
        promise = evaluate(chain(8), lambda nid: 0, sla).promise
        assert np.mean(runs <= promise) == pytest.approx(share, abs=0.03)


def test_noise_shared_by_a_whole_run_is_replayed_together():
    """Two past runs: in one every task took 1 s, in the other (a loaded machine) 2 s.

    Drawn independently per task, a 10-task chain would almost always take ~15 s; replayed
    run by run it takes 10 s or 20 s — and a p90 promise must say 20.
    """
    h = History()
    for run, t in ((1, 1.0), (2, 2.0)):
        for _ in range(10):
            h.add_task("m.step", 2048, TaskSample(0, t, 8, run=run))
    for kind in ("warm", "cold", "new"):
        h.add_startup(2048, kind, StartupSample(0.0))
    for _ in range(10):
        h.add_upload(2048, TransferSample(8, 1e-9))
        h.add_store(2048, TransferSample(8, 1e-9))
    h.run_factors = {1: 2 / 3, 2: 4 / 3}  # each run's slowness over the median run's
    s = Planning(chain(10), Predictor(h), config("uniform", sla="p90", mc_samples=2000))
    worker = [0] * s.dag.n
    ev = s.evaluate(worker, [2048])
    assert ev.promise == pytest.approx(20.0, rel=1e-6)
    assert np.percentile(ev.outcome.makespans, 10) == pytest.approx(10.0, rel=1e-6)
    h.run_factors = {}
    independent = Planning(chain(10), Predictor(h), config("uniform", sla="p90", mc_samples=2000))
    assert independent.evaluate(worker, [2048]).promise < 17.5
