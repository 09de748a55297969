"""What the predictive planners share: assign workers, evaluate an assignment, build the Plan.

An *evaluation* of (memory per worker, worker per task) is the point
simulation with per-task predictions at the SLA (its makespan is the
per-task-percentile estimate), its critical path, the typical makespan (the
same simulation with median task times), the Monte Carlo makespan at the SLA
with the expected GB-seconds, and the promise: Monte Carlo's until the
workflow has enough past runs, then the typical makespan calibrated by them
(``calibration``). Every simulation shares the hosts' cores among the tasks
executing at once (``PlannerConfig.cores``, ``sharing``), so assignment,
up/downgrades and the promise all see the same contention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from orchestrator.core import startup
from orchestrator.core.graph import Graph
from orchestrator.core.sla import SLA
from orchestrator.planning import (
    assign as assign_mod,
    calibration,
    crowding,
    estimates,
    floor,
    montecarlo,
    rules,
    timing,
)
from orchestrator.planning.dag import Dag, index
from orchestrator.planning.effects import NONE, Effects
from orchestrator.planning.plan import Plan, TaskPlan, flexible_fallback
from orchestrator.planning.predictor import PredictionError, Predictor, as_sla, cpu_speed, statistic

if TYPE_CHECKING:
    from orchestrator.planning.config import PlannerConfig

TYPICAL = SLA(50)
PROMISE_SLAS = (SLA(50), SLA(90), SLA(95))  # recorded on every plan beside its own SLA's promise
ALL_RUNS, STEADY_RUNS = "all runs", "runs that started no process"
CONFIG_CORES = object()  # ``_simulate``'s default capacity: the config's
RECENT_SIMS = 3
# Up to this many tasks, assignment looks at the contention-aware timeline (a few extra simulations);
# beyond, the rules' assignment stands — the promise still shares the cores — so planning a
# 1,000-task DAG costs what it did.
CONTENTION_ASSIGN_MAX_TASKS = 500
CONTENDED = 0.01  # sharing that slows a task by less is noise, and so is a makespan gain below it


@dataclass
class Evaluation:
    worker_memory: list[int]
    memory: list[int]  # per task
    dur: estimates.Durations
    timeline: timing.Timeline
    outcome: montecarlo.Outcome | None  # None: evaluated without Monte Carlo (``evaluate(monte_carlo=False)``)
    # The makespan with median task times (the point simulation at p50): the typical run, which
    # past runs' residuals are measured against (``calibration``).
    typical: float = 0.0
    factor: float | None = None  # calibration from past runs (None: too few yet)
    calibration_basis: str = ALL_RUNS  # which past runs ``factor`` comes from
    yield_before: frozenset[int] = frozenset()
    effects: Effects = NONE  # what the plan's optimizations change (``planning.effects``)

    @property
    def mc(self) -> montecarlo.Outcome:
        """The Monte Carlo outcome, which only an evaluation made with Monte Carlo has."""
        assert self.outcome is not None, "evaluated without Monte Carlo"
        return self.outcome

    @property
    def promise(self) -> float:
        """The typical makespan × the residual percentile once calibrated; Monte Carlo's SLA percentile before."""
        return self.typical * self.factor if self.factor is not None else self.mc.promise

    @property
    def gb_seconds(self) -> float:
        return self.mc.mean_gb_seconds


def fallback_reason(graph: Graph, predictor: Predictor | None) -> str | None:
    if predictor is None or predictor.empty:
        return "no history for this workflow structure yet"
    missing = predictor.missing_functions(node.function for node in graph.values())
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return f"no history for function(s) {shown}"
    return None


def no_history_plan(graph: Graph, config: PlannerConfig, memory_mb: int, reason: str) -> Plan:
    return flexible_fallback(
        graph,
        config,
        memory_mb,
        f"{reason}: flexible workers (WUKONG style) on {memory_mb} MB; this run's metrics let the next run be planned",
    )


class Planning:
    """One planning session over one graph: sizes and predictions are computed once."""

    def __init__(self, graph: Graph, predictor: Predictor, config: PlannerConfig) -> None:
        self.graph = graph
        self.dag: Dag = index(graph)
        self.predictor = predictor
        self.config = config
        self.sla = as_sla(config.sla)
        self.reference_mb = max(config.memory_options)
        self.sizes = estimates.predict_sizes(self.dag, predictor, self.reference_mb, self.sla)
        self._duration_cache: dict[tuple, dict[tuple[int, int], tuple]] = {}
        self._local_durations: dict[SLA, dict[tuple, tuple]] = {}
        self._demand_cache: dict[tuple[int, int], float] = {}
        self._neighbours = [self.dag.ups[i] + self.dag.downs[i] for i in range(self.dag.n)]
        self._assign_inputs: dict[int, tuple] = {}  # memory → the assignment rules' per-task inputs
        self._recent_sims: dict[tuple, tuple] = {}  # inputs → result of the latest few simulations
        replayed = self._residuals()
        self.residuals = [r for r, _ in replayed]
        self.factor = calibration.factor(self.residuals, self.sla)
        # Runs laid out on processes already serving the workflow, calibrated apart (see ``factor_for``).
        steady = [r for r, started in replayed if not started]
        self.steady_residuals = steady
        self.steady_runs = len(steady)
        self.steady_factor = calibration.factor(steady, self.sla)
        self.evaluations = 0

    # --- calibration --------------------------------------------------------------

    def _residuals(self) -> list[tuple[float, bool]]:
        """Each past run's residual, and whether its replay starts a process (cold or new)."""
        if not self.config.past_runs:
            return [(r, False) for r in self.config.residuals]
        out = []
        for past in self.config.past_runs:
            tl = self.replay(past)
            if tl is not None and tl.makespan > 0 and past.makespan_s > 0:
                out.append((past.makespan_s / tl.makespan, any(br.cold for br in tl.branches)))
        return out

    def factor_for(self, tl: timing.Timeline) -> tuple[float | None, str]:
        """The calibration for a plan laid out as ``tl``. Start-ups are where the timing model
        errs most (a new process's first tasks, imports): runs that started processes showed
        residuals 1.4-2.0 on image_transformer where warm runs showed 1.1-1.3, so a plan that
        starts none is calibrated by warm runs alone once there are enough of them; a plan that
        starts processes keeps the wider calibration of all runs."""
        if self.steady_factor is not None and not any(br.cold for br in tl.branches):
            return self.steady_factor, STEADY_RUNS
        return self.factor, ALL_RUNS

    def replay(self, past: calibration.PastRun) -> timing.Timeline | None:
        """The typical timeline of a past run's layout as today's predictor sees it (None: a
        layout this graph cannot take, e.g. flexible workers)."""
        labels: dict[str, int] = {}
        worker: list[int] = []
        worker_memory: list[int] = []
        for nid in self.dag.ids:
            label, mb = past.placement.get(nid, (None, None))
            if label is None or mb is None:
                return None
            if label not in labels:
                labels[label] = len(worker_memory)
                worker_memory.append(int(mb))
            worker.append(labels[label])
        memory = [worker_memory[w] for w in worker]
        position = {nid: i for i, nid in enumerate(self.dag.ids)}
        yields = frozenset(position[nid] for nid in past.yield_before if nid in position)
        effects = Effects.of(self.dag, past.annotations, self.predictor.history.prewarm_hit_rate)
        try:
            _, tl = self._simulate(
                worker,
                worker_memory,
                memory,
                TYPICAL,
                yields,
                warm=past.warm_processes,
                pools=past.pool_processes,
                effects=effects,
                cores=past.cores if past.cores is not None else self.config.cores,
            )
        except PredictionError:
            return None
        return tl

    def promises(self, ev: Evaluation) -> dict[str, float]:
        """What the plan would promise at other common SLAs, made the same way as its own promise
        (the same calibration basis, or the same Monte Carlo runs): one run tells how it fares
        against each, and a user sees the spread a plan expects."""
        residuals = self.steady_residuals if ev.calibration_basis == STEADY_RUNS else self.residuals
        out = {}
        for sla in PROMISE_SLAS:
            f = calibration.factor(residuals, sla) if ev.factor is not None else None
            value = ev.typical * f if f is not None else statistic(ev.mc.makespans, sla)
            out[str(sla)] = round(float(value), 6)
        return out

    def _capacity_record(self, tl: timing.Timeline) -> dict:
        """The capacity the plan assumed and how much sharing it costs the tasks."""
        stretched = [x for x in tl.stretch if x > 1.01]
        return {
            "cores": self.config.cores,
            "source": self.config.capacity_source or None,
            "contended_tasks": len(stretched),
            "max_stretch": round(max(stretched, default=1.0), 3),
        }

    def _calibration_record(self, ev: Evaluation) -> dict:
        return {
            "runs": len(self.residuals),
            "factor": ev.factor,
            "all_runs_factor": self.factor,
            "steady_factor": self.steady_factor,
            "steady_runs": self.steady_runs,
            "basis": ev.calibration_basis,
            # Past runs' observed ÷ typical as replayed now (oldest first): near 1 when the model
            # (capacity included) explains them; reported by sla_report and the run page.
            "residuals": [round(r, 4) for r in self.residuals],
            "residual_summary": calibration.summary(self.residuals),
        }

    # --- workers ------------------------------------------------------------------

    def assign_workers(self, memory_mb: int) -> list[int]:
        """Who runs what, decided on typical (median) behaviour whatever the SLA: the structure of
        a plan should not flip with the tail of a few noisy samples; the SLA shapes the promise.

        With a capacity, the rules run a second time on the contention-aware timeline: each task's
        work stretched by the sharing the first assignment's simulation shows, so the critical path
        the rules protect (a critical child stays on its parent's worker, a critical fan-in joins its
        critical upstream) is the one contention makes, not the one an idle host would. The second
        assignment is kept when its simulated typical makespan is shorter; then sibling branches
        that only crowd the critical path's cores are folded onto fewer workers (``crowding``).
        Both for DAGs of up to ``CONTENTION_ASSIGN_MAX_TASKS`` tasks."""
        worker = self._assign(memory_mb)
        if self.config.cores is None or self.dag.n > CONTENTION_ASSIGN_MAX_TASKS:
            return worker

        def look(w: list[int]) -> timing.Timeline:
            return self.evaluate(w, [memory_mb] * (max(w) + 1), monte_carlo=False, sla=TYPICAL).timeline

        tl = look(worker)
        if max(tl.stretch, default=1.0) <= 1.0 + CONTENDED:
            return worker
        again = self._assign(memory_mb, stretch=tl.stretch)
        if again != worker:
            tl_again = look(again)
            if tl_again.makespan < tl.makespan * (1 - CONTENDED):
                worker, tl = again, tl_again
        # Sibling branches that only crowd the critical path's cores run on fewer workers (``crowding``).
        return crowding.fold(self.dag, worker, tl, look)

    def _assign(self, memory_mb: int, stretch: list[float] | None = None) -> list[int]:
        dag, p = self.dag, self.predictor
        if self._assign_inputs.get(memory_mb) is None:
            sla, sizes = TYPICAL, self.sizes
            work = [p.exec_time(dag.fn[i], memory_mb, sizes.input_bytes[i], sla) for i in range(dag.n)]
            post = [p.post_time(dag.fn[i], memory_mb, sla) for i in range(dag.n)]
            fetch = [p.transfer_time("download", sizes.output_bytes[i], memory_mb, sla) for i in range(dag.n)]
            edge = [p.transfer_time("upload", sizes.output_bytes[i], memory_mb, sla) + fetch[i] for i in range(dag.n)]
            level = estimates.bottom_levels(dag, p, sizes, [memory_mb] * dag.n, sla)
            self._assign_inputs[memory_mb] = (
                work,
                post,
                fetch,
                edge,
                level,
                p.startup_time(memory_mb, startup.NEW, sla),
            )
        work, post, fetch, edge, level, startup_s = self._assign_inputs[memory_mb]
        if stretch is not None:  # what sharing adds to each task, on every path to the end too
            extra = [w * (x - 1.0) for w, x in zip(work, stretch)]
            work = [w + e for w, e in zip(work, extra)]
            stretched = [0.0] * dag.n
            for i in reversed(range(dag.n)):
                below = max((level[d] for d in dag.downs[i]), default=0.0)
                stretched[i] = level[i] - below + extra[i] + max((stretched[d] for d in dag.downs[i]), default=0.0)
            level = stretched
        own = [w + x for w, x in zip(work, post)]
        finish = [0.0] * dag.n
        for i in range(dag.n):
            finish[i] = max((finish[u] + edge[u] for u in dag.ups[i]), default=0.0) + own[i]
        return assign_mod.assign(
            dag,
            work=work,
            level=level,
            output_bytes=self.sizes.output_bytes,
            critical=assign_mod.critical_flags(dag, own, edge),
            arrival=[finish[i] + edge[i] for i in range(dag.n)],
            startup_s=startup_s,
            fetch_s=fetch,
            width=None if self.config.cores is None else max(1, math.ceil(self.config.cores)),
        )

    # --- evaluation ---------------------------------------------------------------

    def _durations(self, worker: list[int], memory: list[int], sla: SLA) -> estimates.Durations:
        """Every task's point durations, each remembered per size and locality (which inputs it
        downloads, whether it uploads): an evaluation changes one worker's memory, or the
        assignment a few tasks' workers, so re-predicting every task each time was half of
        planning time."""
        cache = self._duration_cache.setdefault((tuple(worker), sla), {})
        shared = self._local_durations.setdefault(sla, {})
        dag = self.dag
        n = dag.n
        d = estimates.Durations([0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [False] * n)
        near = self._neighbours
        for i in range(n):
            got = cache.get((i, memory[i]))
            if got is None:
                # Another assignment with the same neighbours on i's worker (and the same flexible ones)
                # gives i the same downloads and upload.
                w = worker[i]
                key = (
                    i,
                    memory[i],
                    w >= 0,
                    tuple(worker[x] == w for x in near[i]) if w >= 0 else tuple(worker[x] < 0 for x in near[i]),
                )
                got = shared.get(key)
                if got is None:
                    got = shared[key] = estimates.task_durations(
                        dag, self.predictor, self.sizes, memory, worker, sla, i
                    )
                cache[(i, memory[i])] = got
            d.download[i], d.exec[i], d.upload[i], d.post[i], d.uploads[i] = got
        return d

    def cpu_demand(self, memory: list[int]) -> list[float]:
        """Cores each task keeps busy while executing uncontended (``Predictor.cpu_demand``)."""
        cache, dag, p = self._demand_cache, self.dag, self.predictor
        out = [0.0] * dag.n
        for i in range(dag.n):
            got = cache.get((i, memory[i]))
            if got is None:
                got = cache[(i, memory[i])] = p.cpu_demand(dag.fn[i], memory[i], self.sizes.input_bytes[i])
            out[i] = got
        return out

    def _simulate(
        self,
        worker: list[int],
        worker_memory: list[int],
        memory: list[int],
        sla: SLA,
        yield_before: frozenset[int],
        warm: tuple[tuple[int, float], ...] | None = None,
        pools: tuple[tuple[int, int], ...] | None = None,
        effects: Effects = NONE,
        cores: Any = CONFIG_CORES,
    ) -> tuple[estimates.Durations, timing.Timeline]:
        """The point simulation with per-task predictions at ``sla`` (``cores``: the capacity, the
        config's unless given — a replayed past run keeps the one its plan assumed)."""
        dag, p = self.dag, self.predictor
        cores = self.config.cores if cores is CONFIG_CORES else cores
        key = (
            tuple(worker),
            tuple(worker_memory),
            sla,
            yield_before,
            effects.preload,
            tuple(sorted(effects.prewarm.items())),
            cores,
            warm,
            pools,
        )
        if key in self._recent_sims:
            return self._recent_sims[key]  # e.g. the assignment's look at the plan, evaluated again
        dur = self._durations(worker, memory, sla)
        sharing = (
            {}
            if cores is None
            else {
                "cores": cores,
                "cpu_demand": self.cpu_demand(memory),
                "exec_part": dur.exec,
                "upload_part": dur.upload,
            }
        )
        priority = estimates.bottom_levels(dag, p, self.sizes, memory, sla, dur)
        run_time = [dur.run_time(i) for i in range(dag.n)]
        preload = {}
        for i in effects.preload:
            preload[i] = estimates.input_downloads(dag, p, self.sizes, memory, worker, sla, i)
            run_time[i] -= sum(d for _, d in preload[i])
        tl = timing.simulate(
            dag,
            worker=worker,
            worker_memory=worker_memory,
            run_time=run_time,
            post=dur.post,
            priority=priority,
            preload=preload,
            prewarm=effects.prewarm,
            startup=lambda mb, kind: p.startup_time(mb, kind, sla),
            keepalive_s=self.config.keepalive_s,
            pool_size=self.config.pool_size,
            warm_processes=self.config.warm_processes if warm is None else tuple(warm),
            min_pool=self.config.min_pool,
            yield_before=yield_before,
            pool_processes=dict(self.config.pool_processes if pools is None else pools),
            fresh_extra=[x * (p.history.fresh_factor - 1.0) for x in dur.exec] if p.history.fresh_factor > 1 else None,
            **sharing,
        )
        self._recent_sims[key] = (dur, tl)
        if len(self._recent_sims) > RECENT_SIMS:
            del self._recent_sims[next(iter(self._recent_sims))]
        return dur, tl

    def evaluate(
        self,
        worker: list[int],
        worker_memory: list[int],
        *,
        monte_carlo: bool = True,
        yield_before: frozenset[int] = frozenset(),
        effects: Effects = NONE,
        sla: SLA | None = None,
    ) -> Evaluation:
        """``sla``: the point simulation's, for a look without Monte Carlo (the plan's by default)."""
        dag, p = self.dag, self.predictor
        if sla is not None and monte_carlo:
            raise ValueError("evaluate(sla=...) is for point simulations only (monte_carlo=False)")
        sla = self.sla if sla is None else sla
        memory = [worker_memory[worker[i]] for i in range(dag.n)]
        dur, tl = self._simulate(worker, worker_memory, memory, sla, yield_before, effects=effects)
        outcome, typical, typical_tl = None, tl.makespan, tl
        if monte_carlo:
            outcome = montecarlo.run(
                dag,
                tl,
                predictor=p,
                sizes=self.sizes,
                memory=memory,
                worker=worker,
                uploads=dur.uploads,
                sla=sla,
                samples=self.config.mc_samples,
                seed=self.config.seed,
            )
            if sla != TYPICAL:
                typical_tl = self._simulate(worker, worker_memory, memory, TYPICAL, yield_before, effects=effects)[1]
                typical = typical_tl.makespan
        self.evaluations += 1
        factor, basis = self.factor_for(typical_tl)
        return Evaluation(
            worker_memory=list(worker_memory),
            memory=memory,
            dur=dur,
            timeline=tl,
            outcome=outcome,
            typical=typical,
            factor=factor,
            calibration_basis=basis,
            yield_before=yield_before,
            effects=effects,
        )

    # --- the plan -------------------------------------------------------------------

    def to_plan(self, ev: Evaluation, worker: list[int], note: str) -> Plan:
        """The plan of an evaluation, with the optimizations its planner applies by rule (``-opt``) and
        those authors forced, as ``config.rules`` chooses them (``planning.rules``); the promise is
        evaluated again with what they change (``planning.effects``)."""
        plan = self._build_plan(ev, worker, note)
        annotations = rules.annotate(self.config, plan, self.graph, self.predictor)
        if not annotations:
            return plan
        effects = Effects.of(self.dag, annotations, self.predictor.history.prewarm_hit_rate)
        if effects:
            ev = self.evaluate(worker, ev.worker_memory, yield_before=ev.yield_before, effects=effects)
            plan = self._build_plan(ev, worker, note)
        for nid, chosen in annotations.items():
            plan.tasks[nid].annotations.update(chosen)
        plan.note += f"; {rules.note(self.config, annotations)}"
        return plan

    def _build_plan(self, ev: Evaluation, worker: list[int], note: str) -> Plan:
        dag, tl, dur = self.dag, ev.timeline, ev.dur
        tasks: dict[str, TaskPlan] = {}
        first_of = {br.first: br for br in tl.branches}
        for i, nid in enumerate(dag.ids):
            br = first_of.get(i)
            tasks[nid] = TaskPlan(
                node_id=nid,
                memory_mb=ev.memory[i],
                worker=f"w{worker[i]}",
                startup=br.state if br is not None else startup.NONE,
                startup_s=round(br.pool_wait_s + br.startup_s, 6) if br is not None else 0.0,
                download_s=round(dur.download[i], 6),
                exec_s=round(dur.exec[i], 6),
                upload_s=round(dur.upload[i], 6),
                input_bytes=self.sizes.input_bytes[i],
                output_bytes=self.sizes.output_bytes[i],
                earliest_start_s=round(tl.ready[i], 6),
                start_s=round(tl.start[i], 6),
                end_s=round(tl.end[i], 6),
            )
        p = self.predictor
        plan = Plan(
            planner=self.config.planner,
            sla=str(self.sla),
            tasks=tasks,
            note=note,
            critical_path=[dag.ids[i] for i in tl.critical_path],
            predicted_makespan_s=round(ev.promise, 6),
            predicted_makespan_per_task_s=round(tl.makespan, 6),
            predicted_median_s=round(ev.typical, 6),
            monte_carlo_s=round(ev.mc.promise, 6),
            calibration=self._calibration_record(ev),
            warm_processes=[[mb, round(ago, 3)] for mb, ago in self.config.warm_processes],
            pool_processes=[[mb, n] for mb, n in self.config.pool_processes],
            yield_before=sorted(dag.ids[i] for i in ev.yield_before),
            capacity=self._capacity_record(tl),
            promises=self.promises(ev),
            predicted_gb_seconds=round(ev.gb_seconds, 6),
            sample_counts={
                "functions": {
                    fn: {str(mb): p.exact_samples(fn, mb) for mb in sorted(set(ev.memory))}
                    for fn in sorted(set(dag.fn))
                },
                "branches": len(tl.branches),
                "cold_starts": sum(1 for br in tl.branches if br.cold),
                "new_processes": sum(1 for br in tl.branches if br.state == startup.NEW),
                "monte_carlo_samples": self.config.mc_samples,
                "evaluations": self.evaluations,
                "defaults_used": sorted(p.defaults_used),
                "fresh_process_factor": round(p.history.fresh_factor, 3),
                "cache_hits": p.hits,
                "cache_misses": p.misses,
            },
        )
        floor.clamp(plan, self.physical_floor(ev.memory))
        plan.set_uploads(self.graph)
        return plan

    def physical_floor(self, memory: list[int]) -> floor.Floor:
        """The physical floor of this graph laid out on ``memory`` (``planning.floor``)."""
        dag, p = self.dag, self.predictor
        cpu_s = [p.cpu_seconds(dag.fn[i], memory[i], self.sizes.input_bytes[i]) for i in range(dag.n)]
        return floor.of(dag, cpu_s=cpu_s, speed=[cpu_speed(mb) for mb in memory], cores=self.config.cores)


def plan_or_fallback(
    graph: Graph, predictor: Predictor | None, config: PlannerConfig, fallback_mb: int, make: Callable[[Planning], Plan]
) -> Plan:
    """Plan with ``make(Planning)``, or the flexible fallback when history is missing."""
    reason = fallback_reason(graph, predictor)
    if reason is None:
        assert predictor is not None, "fallback_reason gives one without a predictor"
        try:
            return make(Planning(graph, predictor, config))
        except PredictionError as exc:
            reason = str(exc)
    return no_history_plan(graph, config, fallback_mb, reason)
