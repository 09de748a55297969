"""The timing model's entry point: simulate a plan with point durations.

``simulate`` runs the point simulation (``simulation.Simulation``: branches,
pool processes, keep-alive, spawns, yields, processor sharing) and returns its
``Timeline`` — when each task starts and ends, each branch's start-up, and what
every task and branch waited for (``waits``), which ``montecarlo`` replays with
sampled durations, ``slack`` with a deadline, and ``critical_path`` walks back.
"""

from __future__ import annotations

from typing import Callable

from orchestrator.planning.dag import Dag
from orchestrator.planning.simulation import Branch, Pools, Sharing, Simulation, Timeline, Work

__all__ = ["Branch", "Timeline", "critical_path", "simulate"]


def simulate(
    dag: Dag,
    *,
    worker: list[int],
    worker_memory: list[int],
    run_time: list[float],
    post: list[float],
    priority: list[float],
    startup: Callable[[int, str], float],
    keepalive_s: float,
    pool_size: int | None,
    warm_processes: tuple[tuple[int, float], ...] = (),
    min_pool: int = 0,
    yield_before: frozenset[int] = frozenset(),
    pool_processes: dict[int, int] | None = None,
    fresh_extra: list[float] | None = None,
    preload: dict[int, list[tuple[int, float]]] | None = None,
    prewarm: dict[int, float] | None = None,
    cores: float | None = None,
    cpu_demand: list[float] | None = None,
    exec_part: list[float] | None = None,
    upload_part: list[float] | None = None,
) -> Timeline:
    """The timeline of ``dag`` under a plan; the parameters are those of ``simulation.Work`` (per task),
    ``simulation.Pools`` and, with ``cores`` (None: as many as the tasks want, as on FaaS),
    ``simulation.Sharing``."""
    sharing = None
    if cores is not None:
        if cpu_demand is None or exec_part is None or upload_part is None:
            raise ValueError("cores needs cpu_demand, exec_part and upload_part")
        sharing = Sharing(cores, cpu_demand, exec_part, upload_part)
    work = Work(
        worker=worker,
        run_time=run_time,
        post=post,
        priority=priority,
        fresh_extra=fresh_extra,
        preload=preload or {},
        prewarm=prewarm or {},
        yield_before=yield_before,
    )
    pools = Pools(
        worker_memory=worker_memory,
        startup=startup,
        keepalive_s=keepalive_s,
        pool_size=pool_size,
        warm_processes=tuple(warm_processes),
        min_pool=min_pool,
        pool_processes=dict(pool_processes or {}),
    )
    return Simulation(dag, work, pools, sharing).run()


def critical_path(dag: Dag, tl: Timeline, post: list[float]) -> list[int]:
    """The tasks whose waits held, from a root to the sink (``waits.Clock.critical_path``): a task's
    preloaded input, latest input, the task before it in its branch, or its branch's start-up —
    through the dispatch trigger's inputs, the process it took over, or the spawn it queued behind.
    ``Timeline.critical_path`` is this with the simulated overheads."""
    return tl.clock(post).critical_path(dag.sink)
