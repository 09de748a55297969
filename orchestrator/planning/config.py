"""What a planner is asked to do: the planner, the SLA, the memory options and the model's parameters.

Its own module so that the planners, which read it, need not import the package that registers them
(``orchestrator.planning`` re-exports it as ``planning.PlannerConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.planning.rules import Rules


@dataclass(frozen=True)
class PlannerConfig:
    planner: str
    sla: str
    memory_options: tuple[int, ...]
    default_memory_mb: int
    keepalive_s: float = 7.0
    # Optimizations applied by rule (the -opt planners), and their parameters by name (settings).
    optimizations: tuple[str, ...] = field(default_factory=tuple)
    optimization_params: dict = field(default_factory=dict)
    # The rules that apply them (``orchestrator.optimizations``, handed in: planning cannot import the layer
    # above it; ``planning.rules``). None: no optimization, neither by rule nor forced on a task.
    rules: Rules | None = None
    seed: int = 0
    # Pool processes per configuration (the local worker's autoscale maximum); None = unlimited, as on FaaS.
    pool_size: int | None = None
    # Executors a flexible (WUKONG) run gets per configuration at most: the runtime's cap
    # (``store.readiness.executor_cap``: no more than the hosts' cores); None: ``pool_size``'s.
    executors: int | None = None
    # Monte Carlo runs behind the promise at the SLA.
    mc_samples: int = 400
    # non-uniform: how much longer (relative) than the all-largest promise a downgrade may make the run.
    tolerance: float = 0.05
    # Pool processes that served this workflow recently, as (memory_mb, seconds since): warm at the start.
    warm_processes: tuple[tuple[int, float], ...] = ()
    # Processes each configuration keeps standing (autoscale minimum): no spawn needed for them.
    min_pool: int = 0
    # Live pool processes per configuration at planning time, as (memory_mb, count) — those not
    # warm start cold, without a spawn; a configuration not listed has ``min_pool``.
    pool_processes: tuple[tuple[int, int], ...] = ()
    # Recent finished runs with the same inputs, oldest first, replayed to calibrate the promise
    # (``calibration``); ``residuals`` (observed / typical makespan) may be given directly instead.
    past_runs: tuple = ()
    residuals: tuple[float, ...] = ()
    # Cores the workers' hosts have for their pool processes to share (``planning.sharing``);
    # None: as many as the tasks want (FaaS). ``capacity_source`` says where the number came from.
    cores: float | None = None
    capacity_source: str = ""
    # Never worse than no plan (``planning.guard``): a predictive plan is compared with the flexible
    # (WUKONG) run simulated on the same model, and the better kept.
    compare_flexible: bool = True

    def __post_init__(self):
        if not self.memory_options:
            raise ValueError("PlannerConfig needs at least one memory option")
        if self.pool_size is not None and self.pool_size < 1:
            raise ValueError(f"pool_size must be at least 1 or None, got {self.pool_size!r}")
        if self.executors is not None and self.executors < 1:
            raise ValueError(f"executors must be at least 1 or None, got {self.executors!r}")
        if self.mc_samples < 10:
            raise ValueError(f"mc_samples must be at least 10, got {self.mc_samples!r}")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance!r}")
        if self.optimizations and self.rules is None:
            raise ValueError(f"optimizations {self.optimizations!r} need the rules that apply them (rules=...)")
        if self.cores is not None and not self.cores > 0:
            raise ValueError(f"cores must be positive or None, got {self.cores!r}")
