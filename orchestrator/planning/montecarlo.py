"""Makespan at the SLA: Monte Carlo over the DAG with per-task samples.

The promise for ``pN`` is the N-th percentile of the *workflow's* completion
time, not the sum of per-task percentiles (which over-promises for chains and
under-promises for wide fan-ins); ``average`` promises the mean.

Each of ``n`` simulated runs draws a run factor (how slow a recent run was as
a whole; recent runs weigh more) and every duration (downloads, exec, upload, post-task overhead,
start-ups) from the predictor's related samples — exec, overhead and
start-ups as run-neutral samples times the run's factor, so the noise of a
loaded machine hits all tasks of a simulated run together — then
replays the timeline's constraints — inputs, the order within a branch, the
dispatch trigger, the pool process a branch depends on, the spawn a new
process queued behind — vectorised over the
runs with numpy, in the order the point simulation started the tasks (a
topological order of those constraints). Start-up states, process
hand-overs and the sharing of the hosts' cores stay as the point simulation
decided them: each sampled exec time is stretched by its task's contention in
the point timeline (``Timeline.stretch``), so a task that shares a core there
shares it in every simulated run.

The RNG is seeded, so a plan is reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.planning.dag import Dag
from orchestrator.planning.estimates import Sizes, remote
from orchestrator.planning.predictor import Predictor, statistic
from orchestrator.planning.timing import Timeline
from orchestrator.core.sla import SLA

DEFAULT_SAMPLES = 400


@dataclass
class Outcome:
    makespans: np.ndarray
    promise: float
    mean_gb_seconds: float


def _draw(values: np.ndarray, n: int, rng: np.random.Generator):
    if len(values) == 1:
        return float(values[0])
    return values[rng.integers(0, len(values), n)]


def run(dag: Dag, tl: Timeline, *, predictor: Predictor, sizes: Sizes, memory: list[int], worker: list[int],
        uploads: list[bool], sla: SLA, samples: int = DEFAULT_SAMPLES, seed: int = 0,
        preload: frozenset[int] = frozenset()) -> Outcome:
    """``preload``: tasks whose remote inputs are fetched as soon as each exists (PreLoad); branches
    a pre-warm ping targets (``Branch.prewarm_hit``) start warm with that chance."""
    rng = np.random.default_rng(seed)
    n = samples
    zero = np.zeros(n)
    factors, weights = predictor.run_factors()
    slow = rng.choice(factors, size=n, p=weights) if len(factors) > 1 else float(factors[0])
    end: list = [None] * dag.n
    done: list = [None] * dag.n  # end + post-task overhead
    start: list = [None] * dag.n
    up: dict[int, object] = {}  # branch → when its process was ready (spawns queue behind each other)
    stretch = tl.stretch or [1.0] * dag.n

    def ready_of(i: int):
        ups = dag.ups[i]
        if not ups:
            return zero
        r = done[ups[0]]
        for u in ups[1:]:
            r = np.maximum(r, done[u])
        return r

    for i in tl.order:
        mb = memory[i]
        r = ready_of(i)
        prev = tl.prev_in_branch[i]
        if prev >= 0:
            avail = done[prev]
        else:
            b = tl.branch_of[i]
            br = tl.branches[b]
            avail = ready_of(br.trigger) if br.trigger != i else r
            if br.after >= 0:
                avail = np.maximum(avail, done[tl.branches[br.after].last])
            if br.spawn_after in up:
                avail = np.maximum(avail, up[br.spawn_after])
            cost = _draw(predictor.startup_neutral(br.memory_mb, br.state), n, rng)
            if br.prewarm_hit:
                warm = _draw(predictor.startup_neutral(br.memory_mb, "warm"), n, rng)
                cost = np.where(rng.random(n) < br.prewarm_hit, warm, cost)
            avail = avail + cost * slow
            up[b] = avail
        s = np.maximum(r, avail)
        br = tl.branches[tl.branch_of[i]]
        fresh = 1.0 + (predictor.history.fresh_factor - 1.0) * (1 - br.prewarm_hit) if br.state == "new" else 1.0
        begin = s
        waits = []
        for u in dag.ups[i]:
            if remote(worker, u, i):
                dl = _draw(predictor.transfer_draws("download", sizes.output_bytes[u], mb), n, rng)
                if i in preload:
                    waits.append(done[u] + dl)  # fetched from its upstream's end on, beside other work
                else:
                    begin = begin + dl
        for w in waits:
            begin = np.maximum(begin, w)
        t = begin + _draw(predictor.exec_neutral(dag.fn[i], mb, sizes.input_bytes[i]), n, rng) * slow * fresh * stretch[i]
        if uploads[i]:
            kind = "store" if i == dag.sink else "upload"
            t = t + _draw(predictor.transfer_draws(kind, sizes.output_bytes[i], mb), n, rng)
        start[i] = s
        end[i] = t
        done[i] = t + _draw(predictor.post_neutral(dag.fn[i], mb), n, rng) * slow

    makespans = np.broadcast_to(np.asarray(end[dag.sink], dtype=float), (n,)).copy()
    gb = 0.0
    for br in tl.branches:
        active = np.mean(done[br.last] - start[br.first]) + predictor.billed_startup(br.memory_mb, br.state)
        gb += br.memory_mb / 1024 * float(active)
    return Outcome(makespans=makespans, promise=statistic(makespans, sla), mean_gb_seconds=gb)
