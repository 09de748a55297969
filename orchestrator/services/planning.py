"""Planning as a service: load bounded history, call the pure planner, time it.

History is bounded twice, so planning cost never grows with a workflow's age:

* the query reads only the latest ``RUN_WINDOW`` runs of the structure hash
  (an indexed range over run ids; succeeded runs that followed a predictive
  plan, once there are a few) — and of their task rows only the latest
  ``SAMPLES_PER_KEY`` per function × memory size — a ``ROW_NUMBER()`` window
  computed by the database, so at most that many rows per key cross the wire;
* the ``History`` it fills keeps at most ``SAMPLES_PER_KEY`` samples per key
  (bounded deques), newest last.

History is scoped to the run's owner (``SLAFLOW_HISTORY_SCOPE``, default
``owner``): a plan learns only from its owner's past runs of the shape, so one
user's slow — or deliberately slowed — runs never move another user's plans
or promises; runs without an owner (commands, benchmarks) form a scope of
their own. ``shared`` lets every run of a shape inform every plan, for a
deployment whose users all trust each other. What the cluster is now (its
cores, its live pool sizes) stays shared: that is not anyone's history.

Capped raw samples were chosen over running summaries because the predictor
needs the joint distribution (size ↔ time, for related-sample selection, and
whole samples for Monte Carlo), which a mean/variance summary would lose; a
window of recent runs also follows a machine whose speed changes.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timezone as dt_timezone

import redis
from django.conf import settings
from django.db.models import Avg, Count, F, Window
from django.db.models.functions import RowNumber

from orchestrator import optimizations as opt_mod, planning
from orchestrator.core import envconfig, mapping, spec as spec_mod, startup
from orchestrator.core.states import RunStatus, TaskStatus
from orchestrator.models import TaskRun, WorkerStartup, WorkflowRun
from orchestrator.planning import calibration, contention
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample
from orchestrator.planning.plan import Plan
from orchestrator.planning.predictor import Predictor, cpu_speed
from store import pools, readiness

RUN_WINDOW = 10
SAMPLES_PER_KEY = 100
MIN_PLANNED_RUNS = 3
MIN_SAME_INPUTS = 2
# Past runs replayed to calibrate a promise (each a point simulation with today's predictor).
CALIBRATION_RUNS = 20
NEEDS_HISTORY = ("uniform", "non-uniform")
PROMISES_FROM_HISTORY = ("wukong-opt",)  # flexible, but promises once history exists (``planning.flexible``)


def capacity() -> tuple[float | None, str]:
    """The cores plans share among executing tasks, and where the number comes from: the
    ``SLAFLOW_HOST_CORES`` setting, else what live workers publish (summed over their hosts),
    else this host's (local mode: the workers run here)."""
    setting = settings.SLAFLOW_HOST_CORES
    if setting == envconfig.UNLIMITED:
        return None, "SLAFLOW_HOST_CORES=unlimited"
    if setting is not None:
        return float(setting), "SLAFLOW_HOST_CORES"
    try:
        published = pools.read_capacity()
    except redis.RedisError:
        published = pools.Capacity()
    if published.cores is not None:
        hosts = len(published.hosts)
        return published.cores, f"published by the workers ({hosts} host{'s' if hosts != 1 else ''})"
    return pools.host_cores(), "the planning host (no worker published its cores)"


def planner_config(
    planner: str,
    sla: str,
    *,
    warm_processes=(),
    past_runs=(),
    pool_processes=(),
    optimizations: tuple[str, ...] | None = None,
    cores=None,
) -> planning.PlannerConfig:
    """``optimizations``: the ones to apply by rule, instead of the planner's own (``-opt``: all);
    ``cores``: (cores, source) as ``capacity()`` gives them, asked for when not given."""
    cores, source = capacity() if cores is None else cores
    return planning.PlannerConfig(
        planner=planner,
        sla=sla,
        memory_options=tuple(settings.SLAFLOW_RESOURCE_CONFIGS),
        default_memory_mb=settings.SLAFLOW_DEFAULT_MEMORY_MB,
        keepalive_s=float(settings.SLAFLOW_KEEPALIVE_S),
        pool_size=int(settings.SLAFLOW_MAX_POOL),
        executors=_executors(),
        min_pool=int(settings.SLAFLOW_MIN_POOL),
        warm_processes=tuple(warm_processes),
        pool_processes=tuple(sorted(dict(pool_processes).items())),
        past_runs=tuple(past_runs),
        optimizations=opt_mod.for_planner(planner) if optimizations is None else tuple(optimizations),
        optimization_params=optimization_params(),
        rules=opt_mod,
        cores=cores,
        capacity_source=source,
        compare_flexible=bool(settings.SLAFLOW_COMPARE_WUKONG),
    )


def _executors() -> int | None:
    """The executors a flexible run would get on the default configuration (the runtime's own cap);
    None when Redis cannot say (the planner then assumes the pool's size)."""
    try:
        return readiness.executor_cap(settings.SLAFLOW_DEFAULT_MEMORY_MB)
    except redis.RedisError:
        return None


def optimization_params() -> dict[str, dict]:
    """Each optimization's rule parameters, from settings (docs/concepts/optimizations.md); clustering and
    streaming also judge by the output store's tiers (the shared-memory threshold, the hosts the workers span)."""
    tiers = {"shm_min_bytes": int(settings.SLAFLOW_SHM_MIN_BYTES), "hosts": _hosts()}
    return {
        "preload": {
            "min_inputs": settings.SLAFLOW_PRELOAD_MIN_INPUTS,
            "min_download_s": settings.SLAFLOW_PRELOAD_MIN_DOWNLOAD_S,
        },
        "prewarm": {
            "latency_s": settings.SLAFLOW_PREWARM_LATENCY_S,
            "preference": settings.SLAFLOW_PREWARM_PREFERENCE,
            "window_s": float(settings.SLAFLOW_KEEPALIVE_S),
        },
        "taskdup": {
            "threshold_s": settings.SLAFLOW_TASKDUP_THRESHOLD_S,
            "max_exec_s": settings.SLAFLOW_TASKDUP_MAX_EXEC_S,
            "max_input_bytes": settings.SLAFLOW_TASKDUP_MAX_INPUT_BYTES,
            "min_output_bytes": settings.SLAFLOW_TASKDUP_MIN_OUTPUT_BYTES,
        },
        "clustering": {
            "min_bytes": settings.SLAFLOW_CLUSTER_MIN_OUTPUT_BYTES,
            "max_fanout": settings.SLAFLOW_CLUSTER_MAX_FANOUT,
            "delay_s": settings.SLAFLOW_DELAYED_IO_S,
            **tiers,
        },
        "streaming": {
            "min_bytes": settings.SLAFLOW_STREAM_MIN_BYTES,
            "chunk_bytes": settings.SLAFLOW_STREAM_CHUNK_BYTES,
            **tiers,
        },
    }


def live_pools() -> dict[int, int]:
    """Live pool processes per memory size as the workers publish them; empty when Redis cannot
    tell (the plan then assumes each pool's minimum, as before pools were published)."""
    try:
        return pools.read_pools()
    except redis.RedisError:
        return {}


def scope(owner, prefix: str = "") -> dict:
    """Filter keywords for the runs whose history plans a run of ``owner`` (a user, or None: no owner),
    on WorkflowRun (``prefix`` "run__" on rows that belong to a run)."""
    if settings.SLAFLOW_HISTORY_SCOPE == envconfig.HISTORY_SHARED:
        return {}
    return {f"{prefix}owner": owner}


def warm_processes(structure_hash: str, *, owner=None, now: float | None = None) -> list[tuple[int, float]]:
    """Pool processes that served this workflow within the keep-alive window: warm for the next run.

    (memory_mb, seconds since), from every branch of the workflow that ended within the window —
    not only the latest runs': a process that sat out the last few runs is still warm if it served
    within the window (measured: planning it as a new process put the typical makespan 50 % high).
    """
    now = time.time() if now is None else now
    window = float(settings.SLAFLOW_KEEPALIVE_S)
    since = datetime.fromtimestamp(now - window, tz=dt_timezone.utc)
    latest: dict[tuple, tuple[int, float]] = {}
    for host, pid, mb, ended in WorkerStartup.objects.filter(
        ended_at__gte=since, run__workflow__structure_hash=structure_hash, **scope(owner, "run__")
    ).values_list("host", "pid", "memory_mb", "ended_at"):
        ago = now - ended.timestamp()
        if 0 <= ago <= window and ((host, pid) not in latest or ago < latest[(host, pid)][1]):
            latest[(host, pid)] = (mb, ago)
    return sorted(latest.values())


def _shape_runs(structure_hash: str, before: int | None, inputs_hash: str | None = None, owner=None):
    """Succeeded runs of a shape — only those with the same inputs once there are
    ``MIN_SAME_INPUTS`` of them: a task's input *bytes* cannot tell a 1024-pixel image's
    parameters from a 2048-pixel one's, so runs on other inputs mislead until then.
    ``before`` (a run id) replays what planning that run could see."""
    qs = WorkflowRun.objects.filter(workflow__structure_hash=structure_hash, status=RunStatus.SUCCEEDED, **scope(owner))
    if before is not None:
        qs = qs.filter(pk__lt=before)
    if inputs_hash:
        same = qs.filter(inputs_hash=inputs_hash)
        if len(same.values_list("id", flat=True)[:MIN_SAME_INPUTS]) >= MIN_SAME_INPUTS:
            return same
    return qs


def recent_runs(
    structure_hash: str,
    limit: int = RUN_WINDOW,
    *,
    before: int | None = None,
    inputs_hash: str | None = None,
    owner=None,
) -> list[int]:
    """The latest succeeded runs of a workflow shape (a failed or cancelled run's timings may
    include crashes and stalls) — those that followed a predictive plan once there are
    ``MIN_PLANNED_RUNS`` of them: no-history fallbacks and WUKONG runs launch a flexible
    branch per task and spawn processes a planned run does not. Any planner's runs count: the
    timing model itself accounts for how a plan lays out workers."""
    qs = _shape_runs(structure_hash, before, inputs_hash, owner)
    planned = list(
        qs.filter(plan__predicted_makespan_s__isnull=False).order_by("-id").values_list("id", flat=True)[:limit]
    )
    if len(planned) >= MIN_PLANNED_RUNS:
        return planned
    return list(qs.order_by("-id").values_list("id", flat=True)[:limit])


def _latest(qs, partition: list[str], per_key: int, fields: tuple[str, ...]) -> list[tuple]:
    """The newest ``per_key`` rows of ``qs`` per partition, oldest first (the window runs in the database)."""
    rows = (
        qs.annotate(newest=Window(RowNumber(), partition_by=[F(f) for f in partition], order_by=F("id").desc()))
        .filter(newest__lte=per_key)
        .values_list("id", *fields)
    )
    return sorted(rows, key=lambda r: r[0])


_TIER_TABLE = {"shm": "maps", "remote": "fetches"}


def _hosts() -> int:
    """How many hosts the live workers span (1 when none published it)."""
    try:
        return max(1, len(pools.read_capacity().hosts))
    except redis.RedisError:
        return 1


def load_history(
    structure_hash: str,
    *,
    runs: int = RUN_WINDOW,
    per_key: int = SAMPLES_PER_KEY,
    before: int | None = None,
    inputs_hash: str | None = None,
    owner=None,
) -> History:
    """Samples of this workflow shape's latest runs in ``owner``'s scope (with these inputs, once there
    are a few): tasks, transfers, start-ups."""
    history = History(cap=per_key, shm_min_bytes=int(settings.SLAFLOW_SHM_MIN_BYTES), hosts=_hosts())
    run_ids = recent_runs(structure_hash, runs, before=before, inputs_hash=inputs_hash, owner=owner)
    if not run_ids:
        return history
    done = TaskRun.objects.filter(
        run_id__in=run_ids, status=TaskStatus.SUCCEEDED, exec_s__isnull=False, memory_mb__isnull=False
    )
    fresh_branches = set(
        WorkerStartup.objects.filter(run_id__in=run_ids, reason=startup.NEW_PROCESS).values_list("branch_id", flat=True)
    )
    usual: dict[tuple, list[float]] = {}
    fresh: list[tuple[tuple, float]] = []
    stretch = contention_stretches(run_ids)
    for (
        row_id,
        run_id,
        fn,
        mb,
        in_b,
        exec_s,
        out_b,
        counters,
        dispatch,
        opts,
        start_s,
        end_s,
        dl,
        up,
        cpu,
        enforced,
        branch,
    ) in _latest(
        done,
        ["function", "memory_mb"],
        per_key,
        (
            "run_id",
            "function",
            "memory_mb",
            "input_bytes",
            "exec_s",
            "output_bytes",
            "counter_update_s",
            "dispatch_s",
            "optimizations",
            "start_s",
            "end_s",
            "download_s",
            "upload_s",
            "cpu_s",
            "enforced",
            "branch_id",
        ),
    ):
        if (opts or {}).get("reused_after_redelivery"):
            continue  # not executed: its timings say nothing
        # The planner's exec time is the task's time on its worker apart from transfers: the function
        # itself plus encoding its output and the state updates around it.
        busy = float(exec_s)
        if start_s is not None and end_s is not None:
            busy = max(busy, (end_s - start_s) - float(dl or 0.0) - float(up or 0.0))
        busy /= stretch.get(row_id, 1.0)  # as if alone on the host: plans add their own contention
        if branch in fresh_branches:
            fresh.append(((fn, mb), busy))
        else:
            usual.setdefault((fn, mb), []).append(busy)
        history.add_task(
            fn,
            mb,
            TaskSample(
                int(in_b or 0),
                busy,
                int(out_b or 0),
                post_s=float(counters or 0.0) + float(dispatch or 0.0),
                run=run_id,
                cpu_s=float(cpu) if cpu is not None and enforced else None,
            ),
        )
    # Transfers, each from its own window: a sink per run would otherwise be crowded out by its tasks.
    uploaded = done.filter(uploaded=True, upload_s__isnull=False)
    shm = history.shm_min_bytes
    for _, mb, out_b, upload_s in _latest(
        uploaded.filter(counter_update_s__isnull=False),
        ["memory_mb"],
        per_key,
        ("memory_mb", "output_bytes", "upload_s"),
    ):
        sample = TransferSample(int(out_b or 0), float(upload_s))
        if shm and sample.nbytes >= shm:  # written into the host's shared memory (store.tiers)
            history.add_tiered("shm_writes", mb, sample)
        else:
            history.add_upload(mb, sample)
    # The sink stores the run's result and updates no counters.
    for _, mb, out_b, upload_s in _latest(
        uploaded.filter(counter_update_s__isnull=True),
        ["memory_mb"],
        per_key,
        ("memory_mb", "output_bytes", "upload_s"),
    ):
        history.add_store(mb, TransferSample(int(out_b or 0), float(upload_s)))
    tier_reads = {"maps": 0, "fetches": 0}
    for _, mb, inputs in _latest(done.filter(download_s__gt=0), ["memory_mb"], per_key, ("memory_mb", "inputs")):
        for item in inputs or []:
            if not item.get("local") and item.get("download_s") is not None:
                sample = TransferSample(int(item["bytes"]), float(item["download_s"]))
                tier = _TIER_TABLE.get(item.get("tier"))  # mapped on its host, fetched from another, or Redis
                if tier:
                    history.add_tiered(tier, mb, sample)
                    tier_reads[tier] += 1
                else:
                    history.add_download(mb, sample)
    if sum(tier_reads.values()):  # how often a reader was on the output's host (the planner prices the rest fetched)
        history.local_reads = tier_reads["maps"] / sum(tier_reads.values())
    _add_startups(history, run_ids)
    history.map_executors = readiness.executor_cap()
    for nid, opts in (
        TaskRun.objects.filter(run_id__in=run_ids, function=mapping.GATHER, status=TaskStatus.SUCCEEDED)
        .order_by("run_id")
        .values_list("node_id", "optimizations")
    ):
        if (opts or {}).get("map_width") is not None:
            history.map_widths[nid] = int(opts["map_width"])  # the latest run's width wins
    history.run_factors = run_factors(run_ids)
    history.fresh_factor = fresh_factor(fresh, usual)
    history.prewarm_hit_rate = prewarm_hit_rate(run_ids, history.prewarm_hit_rate)
    return history


def contention_stretches(run_ids: list[int]) -> dict[int, float]:
    """TaskRun id → how much sharing its host's cores with the run's other tasks slowed it
    (``planning.contention``), on the cores each run's plan assumed (today's when it did not say),
    divided evenly among the hosts its tasks ran on."""
    now_cores, _ = capacity()
    run_cores = {
        rid: cores
        for rid, cores in WorkflowRun.objects.filter(pk__in=run_ids).values_list("id", "plan__data__capacity__cores")
    }
    by_run: dict[int, list[tuple]] = {}
    for row in TaskRun.objects.filter(
        run_id__in=run_ids,
        status=TaskStatus.SUCCEEDED,
        start_s__isnull=False,
        end_s__isnull=False,
        exec_s__isnull=False,
        memory_mb__isnull=False,
    ).values_list(
        "id", "run_id", "host", "memory_mb", "start_s", "end_s", "exec_s", "download_s", "upload_s", "cpu_s", "enforced"
    ):
        by_run.setdefault(row[1], []).append(row)
    out: dict[int, float] = {}
    for run_id, rows in by_run.items():
        cores = run_cores.get(run_id)
        cores = float(cores) if isinstance(cores, (int, float)) and cores > 0 else now_cores
        if cores is None:
            continue  # unlimited: nothing was shared
        hosts: dict[str, list[tuple]] = {}
        for row in rows:
            hosts.setdefault(row[2] or "", []).append(row)
        for host_rows in hosts.values():
            spans = [
                contention.Span(
                    start,
                    end,
                    max(float(ex), end - start - float(dl or 0) - float(up or 0)),
                    float(cpu) if cpu is not None else None,
                    cpu_speed(mb) if enforced else 1.0,
                )
                for _, _, _, mb, start, end, ex, dl, up, cpu, enforced in host_rows
            ]
            for row, x in zip(host_rows, contention.stretches(spans, cores / len(hosts))):
                out[row[0]] = x
    return out


PREWARM_MIN_PINGS = 5


def prewarm_hit_rate(run_ids: list[int], prior: float) -> float:
    """Hits over pings of these runs' pre-warms (the prior until there are a few)."""
    sent = hits = 0
    for opts in WorkflowRun.objects.filter(pk__in=run_ids).values_list("optimizations", flat=True):
        stats = (opts or {}).get("prewarm") or {}
        if isinstance(stats, dict):
            sent += int(stats.get("sent") or 0)
            hits += int(stats.get("hits") or 0)
    return hits / sent if sent >= PREWARM_MIN_PINGS else prior


FRESH_MIN_SAMPLES = 5
FRESH_MAX = 5.0


def fresh_factor(fresh: list[tuple[tuple, float]], usual: dict[tuple, list[float]]) -> float:
    """Tasks' time in a new process's first branch over their usual (median) time elsewhere,
    summed over the tasks so that long tasks weigh more than 1 ms ones (measured on
    image_transformer: about 3× for a process's first 24 tasks). 1.0 with too little evidence."""
    spent = expected = 0.0
    count = 0
    for key, busy in fresh:
        if len(usual.get(key, ())) >= 2:
            spent += busy
            expected += statistics.median(usual[key])
            count += 1
    if count < FRESH_MIN_SAMPLES or expected <= 0:
        return 1.0
    return min(FRESH_MAX, max(1.0, spent / expected))


def run_factors(run_ids: list[int]) -> dict[int, float]:
    """How slow each run was as a whole: its tasks' busy time over what the same tasks take in
    the median run — per (function, memory) the mean task time over that key's median across
    the runs, weighted by the time each key takes (a 1 ms task's jitter must not rescale a
    200 ms sleep). One aggregate row per run × key, so the query stays bounded. Normalised
    to a median of 1."""
    rows = (
        TaskRun.objects.filter(
            run_id__in=run_ids, status=TaskStatus.SUCCEEDED, start_s__isnull=False, end_s__isnull=False
        )
        .values("run_id", "function", "memory_mb")
        .annotate(busy=Avg(F("end_s") - F("start_s")), n=Count("id"))
    )
    by_key: dict[tuple, dict[int, tuple[float, int]]] = {}
    for row in rows:
        if row["busy"] and row["busy"] > 0:
            by_key.setdefault((row["function"], row["memory_mb"]), {})[row["run_id"]] = (row["busy"], row["n"])
    spent: dict[int, float] = {}
    expected: dict[int, float] = {}
    for per_run in by_key.values():
        if len(per_run) < 2:
            continue
        mid = statistics.median(busy for busy, _ in per_run.values())
        for run_id, (busy, n) in per_run.items():
            spent[run_id] = spent.get(run_id, 0.0) + busy * n
            expected[run_id] = expected.get(run_id, 0.0) + mid * n
    factors = {run_id: spent[run_id] / expected[run_id] for run_id in spent if expected[run_id] > 0}
    if len(factors) < 2:
        return {}
    mid = statistics.median(factors.values())
    return {run_id: f / mid for run_id, f in factors.items()}


def _add_startups(history: History, run_ids: list[int]) -> None:
    """Start-up samples with the waits the simulation models on its own removed: a branch that
    found its process still serving the previous branch waited in the queue, and a new process
    spawned in a burst waited for the spawns before it (a worker forks one at a time)."""
    rows = list(
        WorkerStartup.objects.filter(run_id__in=run_ids, ready_at__isnull=False).values_list(
            "id", "run_id", "host", "pid", "memory_mb", "reason", "requested_at", "started_at", "ready_at", "ended_at"
        )
    )
    previous_end: dict[int, float] = {}
    last_by_process: dict[tuple, float] = {}
    for row in sorted(rows, key=lambda r: (r[2], r[3] or 0, r[7], r[0])):
        key = (row[2], row[3])
        if key in last_by_process:
            previous_end[row[0]] = last_by_process[key]
        if row[9] is not None:
            last_by_process[key] = row[9].timestamp()
    previous_spawn: dict[int, float] = {}
    last_spawn: dict[tuple, float] = {}
    for row in sorted(rows, key=lambda r: (r[2], r[4], r[7], r[0])):
        if row[5] == startup.NEW_PROCESS:
            key = (row[2], row[4])
            if key in last_spawn:
                previous_spawn[row[0]] = last_spawn[key]
            last_spawn[key] = row[7].timestamp()
    for sid, run_id, _, _, mb, reason, requested, started, ready, _ in sorted(rows):
        requested_s, ready_s = requested.timestamp(), ready.timestamp()
        begin = max(requested_s, previous_end.get(sid, requested_s), previous_spawn.get(sid, requested_s))
        history.add_startup(
            mb,
            startup.kind_of(reason),
            StartupSample(max(0.0, ready_s - begin), max(0.0, ready_s - started.timestamp()), run=run_id),
        )


def past_runs(
    structure_hash: str,
    inputs_hash: str | None,
    limit: int = CALIBRATION_RUNS,
    *,
    before: int | None = None,
    owner=None,
) -> list[calibration.PastRun]:
    """The latest planned, succeeded runs in ``owner``'s scope with these inputs (any inputs when
    ``inputs_hash`` is None), oldest first, as their plans laid them out — for the planner to replay."""
    qs = WorkflowRun.objects.filter(
        workflow__structure_hash=structure_hash,
        status=RunStatus.SUCCEEDED,
        makespan_s__gt=0,
        plan__predicted_median_s__gt=0,
        **scope(owner),
    )
    if inputs_hash:
        qs = qs.filter(inputs_hash=inputs_hash)
    if before is not None:
        qs = qs.filter(pk__lt=before)
    out = []
    for made, data in reversed(qs.order_by("-id").values_list("makespan_s", "plan__data")[:limit]):
        placement = {
            nid: (tp.get("worker") or tp.get("sim_worker"), tp.get("memory_mb"))
            for nid, tp in (data.get("tasks") or {}).items()
        }
        annotations = {nid: tp["annotations"] for nid, tp in (data.get("tasks") or {}).items() if tp.get("annotations")}
        out.append(
            calibration.PastRun(
                makespan_s=float(made),
                placement=placement,
                warm_processes=tuple((int(mb), float(ago)) for mb, ago in data.get("warm_processes") or ()),
                pool_processes=tuple((int(mb), int(k)) for mb, k in data.get("pool_processes") or ()),
                yield_before=frozenset(data.get("yield_before") or ()),
                annotations=annotations,
                cores=_plan_cores(data),
            )
        )
    return out


def _plan_cores(data: dict) -> float | None:
    """The cores a stored plan assumed (None: it did not record them)."""
    cores = (data.get("capacity") or {}).get("cores")
    return float(cores) if isinstance(cores, (int, float)) and cores > 0 else None


def load_predictor(structure_hash: str, inputs_hash: str | None = None, owner=None) -> Predictor:
    return Predictor(load_history(structure_hash, inputs_hash=inputs_hash, owner=owner))


def make_plan(
    graph,
    *,
    planner: str,
    sla: str,
    structure_hash: str,
    inputs_hash: str | None = None,
    optimizations: tuple[str, ...] | None = None,
    owner=None,
) -> Plan:
    """``inputs_hash``: the run's (``spec.inputs_hash``); computed from ``graph`` when not given;
    ``owner``: whose history the plan learns from (``scope``; None: runs without an owner)."""
    fn = planning.get(planner)
    t0 = time.perf_counter()
    predictor, warm, past, pools = None, (), (), {}
    if planning.base_name(planner) in NEEDS_HISTORY or planner in PROMISES_FROM_HISTORY:
        if inputs_hash is None:
            inputs_hash = spec_mod.inputs_hash(spec_mod.to_spec(graph))
        predictor = load_predictor(structure_hash, inputs_hash, owner)
        warm = warm_processes(structure_hash, owner=owner)
        pools = live_pools()
        past = past_runs(structure_hash, inputs_hash, owner=owner)
    config = planner_config(
        planner, sla, warm_processes=warm, past_runs=past, pool_processes=pools, optimizations=optimizations
    )
    t1 = time.perf_counter()
    plan = fn(graph, predictor, config)
    plan.planning_time_s = time.perf_counter() - t1
    if predictor is not None and predictor.history.map_widths:
        widths = ", ".join(f"{n} ×{w}" for n, w in sorted(predictor.history.map_widths.items()))
        plan.note += f"; mapped widths from the last run: {widths}"
    if not plan.capacity:  # a plan that simulated nothing (WUKONG, no history) still says what the hosts had
        plan.capacity = {"cores": config.cores, "source": config.capacity_source or None}
    if predictor is not None:
        plan.sample_counts["history_load_s"] = round(t1 - t0, 6)
        plan.sample_counts["history_samples"] = predictor.history.size()
        plan.sample_counts["warm_processes_at_start"] = len(warm)
    return plan
