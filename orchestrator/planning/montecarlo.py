"""Makespan at the SLA: Monte Carlo over the DAG with per-task samples.

The promise for ``pN`` is the N-th percentile of the *workflow's* completion
time, not the sum of per-task percentiles (which over-promises for chains and
under-promises for wide fan-ins); ``average`` promises the mean.

Each of ``n`` simulated runs draws a run factor (how slow a recent run was as
a whole; recent runs weigh more) and every duration (downloads, exec, upload, post-task overhead,
start-ups) from the predictor's related samples — exec, overhead and
start-ups as run-neutral samples times the run's factor, so the noise of a
loaded machine hits all tasks of a simulated run together — then
replays what each task and branch waited for in the point simulation
(``Timeline.waits``: inputs, the order within a branch, the dispatch trigger,
the pool process a branch depends on, the spawn a new process queued behind,
PreLoad's downloads) with a ``waits.Clock`` vectorised over the runs with
numpy, in the order the point simulation started the tasks. Start-up states, process
hand-overs and the sharing of the hosts' cores stay as the point simulation
decided them: each sampled exec time is stretched by its task's contention in
the point timeline (``Timeline.stretch``), so a task that shares a core there
shares it in every simulated run.

The RNG is seeded, so a plan is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.core.sla import SLA
from orchestrator.core.startup import NEW, WARM
from orchestrator.planning.dag import Dag
from orchestrator.planning.estimates import Sizes, remote
from orchestrator.planning.predictor import Predictor, statistic
from orchestrator.planning.timing import Timeline
from orchestrator.planning.waits import Clock

DEFAULT_SAMPLES = 400


@dataclass
class Outcome:
    makespans: np.ndarray
    promise: float
    mean_gb_seconds: float


def _draw(values: np.ndarray, n: int, rng: np.random.Generator) -> float | np.ndarray:
    if len(values) == 1:
        return float(values[0])
    return values[rng.integers(0, len(values), n)]


def run(
    dag: Dag,
    tl: Timeline,
    *,
    predictor: Predictor,
    sizes: Sizes,
    memory: list[int],
    worker: list[int],
    uploads: list[bool],
    sla: SLA,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> Outcome:
    """Branches a pre-warm ping targets (``Branch.prewarm_hit``) start warm with that chance; inputs
    fetched as soon as each exists (PreLoad) are the timeline's PRELOAD waits, recorded when it was
    simulated."""
    rng = np.random.default_rng(seed)
    n = samples
    factors, weights = predictor.run_factors()
    slow = rng.choice(factors, size=n, p=weights) if len(factors) > 1 else float(factors[0])
    clock = Clock(tl.waits, zero=np.zeros(n), maximum=np.maximum)
    stretch = tl.stretch or [1.0] * dag.n
    # Durations are drawn task by task in the order the point simulation started them (the RNG's order).
    for i in tl.order:
        mb = memory[i]
        b = tl.branch_of[i]
        br = tl.branches[b]
        if tl.prev_in_branch[i] < 0:
            cost = _draw(predictor.startup_neutral(br.memory_mb, br.state), n, rng)
            if br.prewarm_hit:
                warm = _draw(predictor.startup_neutral(br.memory_mb, WARM), n, rng)
                cost = np.where(rng.random(n) < br.prewarm_hit, warm, cost)
            clock.settle_branch(b, cost * slow)
        fresh = 1.0 + (predictor.history.fresh_factor - 1.0) * (1 - br.prewarm_hit) if br.state == NEW else 1.0
        parts, fetch = [], {}
        preloaded = {u for u, _ in tl.waits.preload.get(i, ())}
        for u in dag.ups[i]:
            if remote(worker, u, i):
                dl = _draw(predictor.transfer_draws("download", sizes.output_bytes[u], mb), n, rng)
                if u in preloaded:
                    fetch[u] = dl  # fetched from its upstream's end on, beside other work
                else:
                    parts.append(dl)
        parts.append(
            _draw(predictor.exec_neutral(dag.fn[i], mb, sizes.input_bytes[i]), n, rng) * slow * fresh * stretch[i]
        )
        if uploads[i]:
            kind = "store" if i == dag.sink else "upload"
            parts.append(_draw(predictor.transfer_draws(kind, sizes.output_bytes[i], mb), n, rng))
        clock.settle_task(i, parts, _draw(predictor.post_neutral(dag.fn[i], mb), n, rng) * slow, fetch)
    start, end, done = clock.start, clock.end, clock.done

    makespans = np.broadcast_to(np.asarray(end[dag.sink], dtype=float), (n,)).copy()
    gb = 0.0
    for br in tl.branches:
        active = np.mean(done[br.last] - start[br.first]) + predictor.billed_startup(br.memory_mb, br.state)
        gb += br.memory_mb / 1024 * float(active)
    return Outcome(makespans=makespans, promise=statistic(makespans, sla), mean_gb_seconds=gb)
