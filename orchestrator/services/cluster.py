"""The cluster as it is now: workers and their hosts, queues, pools, runs in flight.

What ``slaflow status`` prints and ``/metrics`` exports, read in a few bounded calls:

- **queues**: messages waiting on each configuration's Celery queue — the length of the broker's
  Redis list of that name (and of Celery's priority sub-lists, ``<queue>\\x06\\x16<p>``), one
  pipelined round trip;
- **running**: branches whose lease a worker holds, per configuration (the lease index): the work a
  queue's workers have taken and not finished, which with the waiting messages is what an autoscaler
  must provide for (the Kubernetes manifests' KEDA scalers);
- **pools**: what each configuration worker's autoscaler publishes (``store.pools``): its host,
  live pool processes, the host's usable cores and each process's CPU quota;
- **workers** (optional, one Celery broadcast with a timeout): which workers answer and the queues
  they consume, the view ``/healthz`` has;
- **runs in flight**: runs that are pending, planning or running (newest first, at most ``limit``).
"""

from __future__ import annotations

import time

from orchestrator.core import router
from orchestrator.core.states import RunStatus

PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport: a queue's priority lists are <queue><sep><priority>
PRIORITIES = (3, 6, 9)
IN_FLIGHT = (RunStatus.PENDING, RunStatus.PLANNING, RunStatus.RUNNING)


def queue_depths() -> dict[str, int]:
    """Messages waiting per configured queue (not counting those a worker has taken): its own queue's and
    those of its host queues (``rc-<MB>@<host>``, where work goes to the host holding its inputs) — what
    an autoscaler of the configuration must see."""
    totals = {q: n for q, n in _lengths(router.all_queues()).items()}
    for (queue, _host), n in host_queue_depths().items():
        if queue in totals:
            totals[queue] += n
    return totals


def host_queue_depths() -> dict[tuple[str, str], int]:
    """Messages waiting on each host queue, ``(configuration's queue, host): n``; the host queues are found
    in the broker (a host whose workers all died still shows what waits for it)."""
    from store.redis_client import get_redis

    names = set()
    for key in get_redis().scan_iter(match=f"{router.QUEUE_PREFIX}*@*", count=1000):
        name = key.decode() if isinstance(key, bytes) else key
        names.add(name.split(PRIORITY_SEP)[0])
    out = {}
    for name, n in _lengths(sorted(names)).items():
        queue, _, host = name.partition("@")
        if n:
            out[(queue, host)] = n
    return out


def _lengths(queues: list[str]) -> dict[str, int]:
    """Messages on each queue: its Redis list and its priority sub-lists."""
    from store.redis_client import get_redis

    pipe = get_redis().pipeline(transaction=False)
    for q in queues:
        pipe.llen(q)
        for p in PRIORITIES:
            pipe.llen(f"{q}{PRIORITY_SEP}{p}")
    lengths = pipe.execute()
    step = 1 + len(PRIORITIES)
    return {q: int(sum(lengths[i * step : (i + 1) * step])) for i, q in enumerate(queues)}


def running(now: float | None = None) -> dict[str, int]:
    """Branches running (a worker holds their lease) per configured queue: a queue's reserved work."""
    from store import dataplane

    by_memory = dataplane.running_by_memory(time.time() if now is None else now)
    return {router.queue_for(mb): by_memory.get(mb, 0) for mb in map(router.memory_of_queue, router.all_queues())}


def pools(now: float | None = None) -> list[dict]:
    """The live workers' published pools (``store.pools.live_workers``), queue named."""
    from store.pools import live_workers

    return [
        {
            "worker": e["name"],
            "host": e.get("host") or "?",
            "queue": router.queue_for(e["memory_mb"]),
            "memory_mb": e["memory_mb"],
            "processes": e["processes"],
            "cores": e.get("cores"),
            "cpus": e.get("cpus"),
            "age_s": round((time.time() if now is None else now) - float(e["at"]), 1),
        }
        for e in live_workers(now)
    ]


def runs_in_flight(limit: int = 50) -> list[dict]:
    from django.utils import timezone

    from orchestrator.models import WorkflowRun

    now = timezone.now()
    rows = (
        WorkflowRun.objects.filter(status__in=IN_FLIGHT)
        .order_by("-submitted_at", "-id")
        .values("id", "workflow__name", "planner", "sla", "status", "submitted_at", "started_at")[:limit]
    )
    return [
        {
            "run": r["id"],
            "workflow": r["workflow__name"],
            "planner": r["planner"],
            "sla": r["sla"],
            "status": r["status"],
            "age_s": round((now - r["submitted_at"]).total_seconds(), 1),
            "running_s": round((now - r["started_at"]).total_seconds(), 1) if r["started_at"] else None,
        }
        for r in rows
    ]


def snapshot(*, inspect_timeout_s: float | None = 1.0, runs_limit: int = 50) -> dict:
    """Everything above; ``inspect_timeout_s=None`` skips the worker broadcast."""
    from orchestrator.services import health

    live_pools = pools()
    out = {
        "queues": queue_depths(),
        "pools": live_pools,
        "hosts": sorted({p["host"] for p in live_pools}),
        "runs_in_flight": runs_in_flight(runs_limit),
    }
    if inspect_timeout_s is not None:
        seen = health.worker_queues(inspect_timeout_s)
        out["workers"] = seen
        out["hosts"] = sorted(set(out["hosts"]) | {w.partition("@")[2] for w in seen if "@" in w})
        served = {q for qs in seen.values() for q in qs}
        out["missing_queues"] = [q for q in out["queues"] if q not in served]
    return out
