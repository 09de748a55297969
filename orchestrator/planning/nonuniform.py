"""Non-uniform: a configuration per logical worker, as cheap as the SLA allows.

1. Assign workers with predictions at the largest configuration; give every
   worker the largest configuration; simulate → critical path and the
   promise at the SLA (the baseline).
2. Downgrades: for each worker with no task on the critical path (the most
   expensive first), then for the critical ones (a worker that mostly waits
   or sleeps is as fast on less memory), pick the smaller configuration with
   the lowest predicted GB-seconds among those that keep the run within the
   deadline — the baseline makespan plus a tolerance
   (``PlannerConfig.tolerance``, relative), never an exact float comparison.
   Each candidate is tried by re-simulating the run (pool processes,
   warm/cold start-ups and waiting consumers included) — or, for DAGs too
   large for that, screened on the slack of the point timeline (``slack``,
   off the critical path only). The result is checked with Monte
   Carlo against the baseline promise plus the tolerance, and the latest
   downgrades are undone (by bisection) if it does not hold.
3. Upgrades: workers now on the critical path that run below the largest
   configuration are moved up when that lowers predicted cost × time.
4. Long waits: a worker that would sit on its process waiting for a remote
   input for longer than twice a warm start-up may give the process up and
   start again (warm) when the input is there — kept when re-simulation says
   it is cheaper within the deadline. (The runtime does not wait for such a
   task: ``n`` in the compact plan.)
5. If the simulation of the result says it costs more than the baseline
   (pool and waiting effects the per-worker screening cannot see), the
   baseline is planned instead.

Without history: flexible workers on the middle configuration, and the run
says so. The result is kept only when the WUKONG run on the same model is not
better (``guard``: faster at equal cost, or cheaper within the SLA).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from orchestrator.core import startup
from orchestrator.core.graph import Graph
from orchestrator.planning import estimates, guard
from orchestrator.planning.evaluate import Evaluation, Planning, plan_or_fallback
from orchestrator.planning.plan import Plan
from orchestrator.planning.predictor import Predictor
from orchestrator.planning.slack import Slack

if TYPE_CHECKING:
    from orchestrator.planning.config import PlannerConfig

GAIN = 0.01  # a change must save at least 1 % to be taken: no churn on noise
# Up to this many task simulations (tasks × trials), each downgrade is tried by re-simulating the whole
# run (pool processes, warm/cold, waiting consumers all seen); beyond, the slack screening is used.
FULL_SIMULATION_BUDGET = 10_000
UPGRADE_MAX = 12  # critical-path workers tried for upgrades
YIELD_CANDIDATES = 16  # longest waits tried for yielding


def middle(options: Iterable[int]) -> int:
    options = sorted(set(options))
    return options[len(options) // 2]


def plan(graph: Graph, predictor: Predictor | None, config: PlannerConfig) -> Plan:
    options = sorted(set(config.memory_options))
    return plan_or_fallback(graph, predictor, config, middle(options), lambda s: guard.choose(s, _plan(s, options)))


def _plan(s: Planning, options: list[int]) -> Plan:
    largest = options[-1]
    worker = s.assign_workers(largest)
    n_workers = max(worker) + 1
    base = s.evaluate(worker, [largest] * n_workers)
    tol = s.config.tolerance
    target = base.promise * (1 + tol)

    critical = {worker[i] for i in base.timeline.critical_path}
    deadline = base.timeline.makespan * (1 + tol)
    trials = n_workers * (len(options) - 1)
    screen = _screen_by_simulation if s.dag.n * trials <= FULL_SIMULATION_BUDGET else _screen_downgrades
    accepted = screen(s, worker, base, critical, options, deadline=deadline)
    memory = _with(largest, n_workers, accepted)
    ev = s.evaluate(worker, memory) if accepted else base
    if ev.promise > target:
        keep = _bisect(s, worker, largest, n_workers, accepted, target)
        accepted = accepted[:keep]
        memory = _with(largest, n_workers, accepted)
        ev = s.evaluate(worker, memory)
    downgraded = len(accepted)
    yields = _screen_yields(s, worker, memory, ev, deadline)
    if yields:
        with_yields = s.evaluate(worker, memory, yield_before=yields)
        if with_yields.promise <= target and with_yields.gb_seconds < ev.gb_seconds:
            ev = with_yields
        else:
            yields = frozenset()
    ev, upgraded = _upgrade_critical(s, worker, memory, ev, options, yields)
    # Pool and waiting effects the per-worker screening cannot see may eat the savings:
    # never plan something the simulation says costs more than the all-largest baseline.
    if ev.gb_seconds >= base.gb_seconds or ev.promise > target:
        ev, downgraded, upgraded, yields = base, 0, 0, frozenset()
    sizes = sorted(set(ev.worker_memory))
    on_path = sum(1 for w, _ in accepted[:downgraded] if w in critical)
    note = (
        f"non-uniform: {n_workers} logical workers on {'/'.join(map(str, sizes))} MB; "
        f"{downgraded - on_path} off the critical path and {on_path} on it downgraded (tolerance {tol:.0%}), "
        f"{upgraded} upgraded on it, "
        f"{len(yields)} long wait(s) yielded; all-{largest} MB promise {base.promise:.3f} s, "
        f"{base.gb_seconds:.3f} GB-s"
    )
    return s.to_plan(ev, worker, note)


def _screen_yields(
    s: Planning, worker: list[int], memory: list[int], ev: Evaluation, deadline: float
) -> frozenset[int]:
    """Tasks a worker should not wait for: it gives its process up and starts again for them.

    Candidates follow a gap in their branch longer than twice a warm start-up (holding the
    process costs more than restarting); each is kept if re-simulating with it lowers the
    predicted cost by at least GAIN and keeps the deadline."""
    tl, dur, p = ev.timeline, ev.dur, s.predictor
    candidates = []
    for i in range(s.dag.n):
        prev = tl.prev_in_branch[i]
        if prev < 0:
            continue
        gap = tl.start[i] - (tl.end[prev] + dur.post[prev])
        mb = memory[worker[i]]
        if gap > 2 * p.startup_time(mb, startup.WARM, s.sla):
            candidates.append((-mb * gap, i))
    chosen: frozenset[int] = frozenset()
    cost_now = _point_cost(s, s.evaluate(worker, memory, monte_carlo=False))
    budget = min(YIELD_CANDIDATES, FULL_SIMULATION_BUDGET // (4 * s.dag.n))
    for _, i in sorted(candidates)[:budget]:
        trial = s.evaluate(worker, memory, monte_carlo=False, yield_before=chosen | {i})
        cost = _point_cost(s, trial)
        if trial.timeline.makespan <= deadline and cost < cost_now * (1 - GAIN):
            chosen, cost_now = chosen | {i}, cost
    return chosen


def _with(largest: int, n_workers: int, changes: list[tuple[int, int]]) -> list[int]:
    memory = [largest] * n_workers
    for w, mb in changes:
        memory[w] = mb
    return memory


def _screen_downgrades(
    s: Planning, worker: list[int], base: Evaluation, critical: set[int], options: list[int], deadline: float
) -> list[tuple[int, int]]:
    dag, p, sla = s.dag, s.predictor, s.sla
    tl, dur = base.timeline, base.dur
    memory = list(base.memory)
    slack = Slack(
        dag,
        tl,
        worker=worker,
        run_time=[dur.run_time(i) for i in range(dag.n)],
        post=dur.post,
        branch_startup=[br.startup_s for br in tl.branches],
        deadline=deadline,
    )
    branches_of: dict[int, list[int]] = {}
    for b, br in enumerate(tl.branches):
        branches_of.setdefault(br.worker, []).append(b)

    def cost(w: int, mb: int, active: float) -> float:
        return mb / 1024 * (active + sum(p.billed_startup(mb, tl.branches[b].state) for b in branches_of[w]))

    current_mb = list(base.worker_memory)
    candidates = sorted(
        (w for w in range(len(current_mb)) if w not in critical),
        key=lambda w: (-cost(w, current_mb[w], slack.worker_active(w)), w),
    )
    accepted: list[tuple[int, int]] = []
    for w in candidates:
        old = current_mb[w]
        best: tuple[float, int | None, dict | None] = (cost(w, old, slack.worker_active(w)) * (1 - GAIN), None, None)
        for mb in options:
            if mb >= old:
                break
            for i in slack.tasks_of[w]:
                memory[i] = mb
            cache: dict[int, tuple] = {}

            # These closures are called by try_worker, within this iteration (B023 does not apply).
            def parts(i: int) -> tuple:
                if i not in cache:  # noqa: B023
                    cache[i] = estimates.task_durations(dag, p, s.sizes, memory, worker, sla, i)  # noqa: B023
                return cache[i]  # noqa: B023

            ok, proposal = slack.try_worker(
                w,
                run_time=lambda i: sum(parts(i)[:3]),
                post=lambda i: parts(i)[3],
                startup=lambda b: p.startup_time(mb, tl.branches[b].state, sla),  # noqa: B023
            )
            if ok:
                c = cost(w, mb, slack.worker_active(w, proposal))
                c += sum(current_mb[worker[x]] / 1024 * delay for x, delay in proposal["spill"].items())
                if c < best[0]:
                    best = (c, mb, proposal)
        chosen = best[1] or old
        for i in slack.tasks_of[w]:
            memory[i] = chosen
        if best[1] is not None:
            assert best[2] is not None, "a memory size is chosen with its proposal"
            slack.commit(w, best[2])
            current_mb[w] = chosen
            accepted.append((w, chosen))
    return accepted


def _screen_by_simulation(
    s: Planning, worker: list[int], base: Evaluation, critical: set[int], options: list[int], deadline: float
) -> list[tuple[int, int]]:
    memory = list(base.worker_memory)
    cost_now = _point_cost(s, base)
    spend: dict[int, float] = {}
    for br in base.timeline.branches:
        active = base.timeline.end[br.last] + base.dur.post[br.last] - base.timeline.start[br.first]
        spend[br.worker] = spend.get(br.worker, 0.0) + br.memory_mb * active
    accepted: list[tuple[int, int]] = []
    critical_now = set(critical)
    # Off the critical path first (the prior system's rule), then the critical workers too: one
    # that mostly waits or sleeps runs as fast on a smaller configuration, and the deadline test
    # rejects any downgrade that would slow the run.
    order = sorted(range(len(memory)), key=lambda w: (w in critical, -spend.get(w, 0.0), w))
    for w in order:
        if w in critical_now and w not in critical:
            continue  # earlier downgrades moved the critical path onto it
        old, best, best_critical = memory[w], None, critical_now
        for mb in options:
            if mb >= old:
                break
            memory[w] = mb
            trial = s.evaluate(worker, memory, monte_carlo=False)
            cost = _point_cost(s, trial)
            if trial.timeline.makespan <= deadline and cost < cost_now * (1 - GAIN):
                best, cost_now = mb, cost
                best_critical = {worker[i] for i in trial.timeline.critical_path}
        memory[w] = best or old
        if best is not None:
            accepted.append((w, best))
            critical_now = best_critical
    return accepted


def _bisect(
    s: Planning, worker: list[int], largest: int, n_workers: int, accepted: list[tuple[int, int]], target: float
) -> int:
    """The most downgrades, in acceptance order, whose Monte Carlo promise stays within the target."""
    lo, hi = 0, len(accepted)  # lo keeps the target (none at all is the baseline); hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if s.evaluate(worker, _with(largest, n_workers, accepted[:mid])).promise <= target:
            lo = mid
        else:
            hi = mid
    return lo


def _point_cost(s: Planning, ev: Evaluation) -> float:
    tl, dur = ev.timeline, ev.dur
    total = 0.0
    for br in tl.branches:
        active = tl.end[br.last] + dur.post[br.last] - tl.start[br.first]
        total += br.memory_mb / 1024 * (active + s.predictor.billed_startup(br.memory_mb, br.state))
    return total


def _upgrade_critical(
    s: Planning,
    worker: list[int],
    memory: list[int],
    ev: Evaluation,
    options: list[int],
    yields: frozenset[int] = frozenset(),
) -> tuple[Evaluation, int]:
    largest = options[-1]
    seen: list[int] = []
    for i in ev.timeline.critical_path:
        w = worker[i]
        if memory[w] < largest and w not in seen:
            seen.append(w)
    if not seen:
        return ev, 0
    current = s.evaluate(worker, memory, monte_carlo=False, yield_before=yields)
    best = _point_cost(s, current) * current.timeline.makespan
    upgraded = 0
    for w in seen[:UPGRADE_MAX]:
        old = memory[w]
        choice = None
        for mb in options:
            if mb <= old:
                continue
            memory[w] = mb
            trial = s.evaluate(worker, memory, monte_carlo=False, yield_before=yields)
            objective = _point_cost(s, trial) * trial.timeline.makespan
            if objective < best * (1 - GAIN):
                best, choice = objective, mb
        memory[w] = choice or old
        upgraded += choice is not None
    return (s.evaluate(worker, memory, yield_before=yields) if upgraded else ev), upgraded
