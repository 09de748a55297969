"""``/metrics``: the runs, the SLA promises and the cluster in the Prometheus text format.

Computed when scraped, from the database and Redis, never from counters kept in a process (a
cluster's web, worker and campaign processes come and go; the database is what they share):

========================================  ==============================================================
series                                    labels, meaning
========================================  ==============================================================
``slaflow_runs``                          workflow, planner, status: runs submitted within the window
``slaflow_runs_in_flight``                workflow, planner, status: pending, planning or running now
``slaflow_sla_runs``                      workflow, planner, sla: finished runs with a promise (window)
``slaflow_sla_attainment_ratio``          … the share of them that finished within their promise
``slaflow_promise_error_ratio``           … median abs(promise - makespan) / makespan
``slaflow_task_duration_seconds``         workflow, memory_mb, stage (input_wait, exec, upload): histogram
``slaflow_startups``                      workflow, memory_mb, kind (cold, warm): branch start-ups (window)
``slaflow_data_moved_bytes``              workflow, direction (download, upload), tier (memory, redis, shm,
                                          remote, stream, preload): task inputs and outputs by store tier
``slaflow_optimization_events``           workflow, planner, event: optimization events of the window's runs
``slaflow_queue_messages``                queue, memory_mb: messages waiting for each configuration (its queue
                                          and its host queues)
``slaflow_host_queue_messages``           queue, memory_mb, host: of those, waiting on a host's queue
``slaflow_queue_running``                 queue, memory_mb: branches running (lease held) per queue
``slaflow_pool_processes``                worker, host, queue, memory_mb: a worker's published pool
``slaflow_host_cores``                    host: cores its pool processes share
``slaflow_metrics_window_seconds``        the window the run series cover
========================================  ==============================================================

The window (``SLAFLOW_METRICS_WINDOW_S``, an hour) bounds every query: runs submitted within it
(newest ``MAX_RUNS`` at most) and their tasks (newest ``MAX_TASKS``). The run series are gauges
over that window, so a dashboard shows them as they are (``slaflow_runs``) rather than through
``rate()``. The text is computed at most once per ``SLAFLOW_METRICS_CACHE_S`` per process.
Who may read it is ``allowed`` (a bearer token, or staff).
"""

from __future__ import annotations

import hmac
import statistics
import threading
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from orchestrator.core import router
from orchestrator.services import cluster

# The classic text format every Prometheus (2.x and 3.x) reads; the text is the same for these names.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_RUNS = 20_000
MAX_TASKS = 100_000
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
STAGES = (("input_wait", "input_wait_s"), ("exec", "exec_s"), ("upload", "upload_s"))

_cache: dict = {"at": 0.0, "text": b""}
_lock = threading.Lock()


def allowed(request) -> bool:
    """A staff session, or ``Authorization: Bearer SLAFLOW_METRICS_TOKEN`` when a token is set; with
    no token set, anyone in local mode and nobody else in production."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.SLAFLOW_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return settings.MODE != "production"


def exposition() -> bytes:
    """The metrics text, recomputed when older than ``SLAFLOW_METRICS_CACHE_S``."""
    with _lock:
        if time.monotonic() - _cache["at"] >= settings.SLAFLOW_METRICS_CACHE_S or not _cache["text"]:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Collector())
            _cache["text"], _cache["at"] = generate_latest(registry), time.monotonic()
        return _cache["text"]


class _Collector:
    def collect(self):
        since = timezone.now() - timedelta(seconds=settings.SLAFLOW_METRICS_WINDOW_S)
        yield from _run_families(since)
        yield from _task_families(since)
        yield from _startup_families(since)
        yield from _cluster_families()
        window = GaugeMetricFamily("slaflow_metrics_window_seconds", "The window the run series cover.")
        window.add_metric([], settings.SLAFLOW_METRICS_WINDOW_S)
        yield window


def _gauge(name: str, doc: str, labels: list[str], values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric([str(k) for k in key], value)
    return family


def _run_families(since):
    from orchestrator.models import WorkflowRun

    rows = (
        WorkflowRun.objects.filter(submitted_at__gte=since)
        .order_by("-submitted_at")
        .values_list(
            "workflow__name", "planner", "sla", "status", "makespan_s", "predicted_makespan_s", "optimizations"
        )[:MAX_RUNS]
    )
    runs: dict = defaultdict(int)
    judged: dict = defaultdict(list)
    events: dict = defaultdict(int)
    for workflow, planner, sla, status, makespan, promise, opts in rows:
        runs[(workflow, planner, status)] += 1
        if status == "succeeded" and makespan and promise:
            judged[(workflow, planner, sla)].append((makespan, promise))
        for event, n in ((opts or {}).get("counts") or {}).items():
            events[(workflow, planner, event)] += n
    in_flight: dict = defaultdict(int)
    for workflow, planner, status in WorkflowRun.objects.filter(status__in=cluster.IN_FLIGHT).values_list(
        "workflow__name", "planner", "status"
    )[:MAX_RUNS]:
        in_flight[(workflow, planner, status)] += 1
    yield _gauge(
        "slaflow_runs", "Runs submitted within the window, by status.", ["workflow", "planner", "status"], runs
    )
    yield _gauge(
        "slaflow_runs_in_flight", "Runs pending, planning or running now.", ["workflow", "planner", "status"], in_flight
    )
    labels = ["workflow", "planner", "sla"]
    yield _gauge(
        "slaflow_sla_runs",
        "Succeeded runs of the window that had a promise.",
        labels,
        {k: len(v) for k, v in judged.items()},
    )
    yield _gauge(
        "slaflow_sla_attainment_ratio",
        "Share of those runs that finished within their promise.",
        labels,
        {k: sum(m <= p for m, p in v) / len(v) for k, v in judged.items()},
    )
    yield _gauge(
        "slaflow_promise_error_ratio",
        "Median abs(promise - makespan) / makespan of those runs.",
        labels,
        {k: statistics.median(abs(p - m) / m for m, p in v) for k, v in judged.items()},
    )
    yield _gauge(
        "slaflow_optimization_events",
        "Optimization events recorded by the window's runs.",
        ["workflow", "planner", "event"],
        events,
    )


def _task_families(since):
    from orchestrator.models import TaskRun

    rows = (
        TaskRun.objects.filter(run__submitted_at__gte=since, status="succeeded")
        .order_by("-id")
        .values_list(
            "run__workflow__name",
            "memory_mb",
            "input_wait_s",
            "exec_s",
            "upload_s",
            "inputs",
            "output_bytes",
            "uploaded",
        )[:MAX_TASKS]
    )
    durations: dict = defaultdict(list)
    moved: dict = defaultdict(int)
    for workflow, memory_mb, input_wait, exec_s, upload, inputs, output_bytes, uploaded in rows:
        for stage, value in zip(("input_wait", "exec", "upload"), (input_wait, exec_s, upload)):
            if value is not None:
                durations[(workflow, memory_mb or 0, stage)].append(value)
        for item in inputs or ():
            tier = item.get("tier") or item.get("via") or ("memory" if item.get("local") else "redis")
            moved[(workflow, "download", tier)] += int(item.get("bytes") or 0)
        if uploaded and output_bytes:  # the output store's rule: this large goes to the host's shared memory
            shm = 0 < settings.SLAFLOW_SHM_MIN_BYTES <= output_bytes
            moved[(workflow, "upload", "shm" if shm else "redis")] += int(output_bytes)
    hist = HistogramMetricFamily(
        "slaflow_task_duration_seconds",
        "Task stage durations of the window's runs.",
        labels=["workflow", "memory_mb", "stage"],
    )
    for key, values in sorted(durations.items()):
        values.sort()
        buckets, i = [], 0
        for bound in DURATION_BUCKETS:
            while i < len(values) and values[i] <= bound:
                i += 1
            buckets.append((repr(bound), i))
        buckets.append(("+Inf", len(values)))
        hist.add_metric([str(k) for k in key], buckets, sum(values))
    yield hist
    yield _gauge(
        "slaflow_data_moved_bytes",
        "Bytes of task inputs (download) and stored outputs (upload), by tier.",
        ["workflow", "direction", "tier"],
        moved,
    )


def _startup_families(since):
    from orchestrator.models import WorkerStartup

    starts: dict = defaultdict(int)
    for workflow, memory_mb, cold in (
        WorkerStartup.objects.filter(run__submitted_at__gte=since)
        .order_by("-id")
        .values_list("run__workflow__name", "memory_mb", "cold")[:MAX_TASKS]
    ):
        starts[(workflow, memory_mb, "cold" if cold else "warm")] += 1
    yield _gauge(
        "slaflow_startups",
        "Branch start-ups of the window's runs: a new or idle process (cold) or warm.",
        ["workflow", "memory_mb", "kind"],
        starts,
    )


def _cluster_families():
    depths = cluster.queue_depths()
    yield _gauge(
        "slaflow_queue_messages",
        "Messages waiting for each resource configuration: its queue and its host queues.",
        ["queue", "memory_mb"],
        {(q, router.memory_of_queue(q)): n for q, n in depths.items()},
    )
    yield _gauge(
        "slaflow_host_queue_messages",
        "Messages waiting on a host's queue of a configuration (work sent to "
        "the host holding its inputs); counted in slaflow_queue_messages too.",
        ["queue", "memory_mb", "host"],
        {(q, router.memory_of_queue(q), h): n for (q, h), n in cluster.host_queue_depths().items()},
    )
    yield _gauge(
        "slaflow_queue_running",
        "Branches running (their lease held) per resource configuration's queue.",
        ["queue", "memory_mb"],
        {(q, router.memory_of_queue(q)): n for q, n in cluster.running().items()},
    )
    pools = cluster.pools()
    yield _gauge(
        "slaflow_pool_processes",
        "Pool processes each worker's autoscaler published.",
        ["worker", "host", "queue", "memory_mb"],
        {(p["worker"], p["host"], p["queue"], p["memory_mb"]): p["processes"] for p in pools},
    )
    cores: dict = {}
    for p in pools:
        if p.get("cores") is not None:
            cores[(p["host"],)] = max(cores.get((p["host"],), 0.0), float(p["cores"]))
    yield _gauge("slaflow_host_cores", "Cores the pool processes of a host share.", ["host"], cores)
