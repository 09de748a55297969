"""What ``/healthz`` reports: the database, Redis, and the workers seen on the broker.

Each check is timed and says what failed, never raises. The web service is healthy when the
database and Redis answer (HTTP 200); without a worker for every configured queue it is
``degraded`` (still 200 unless the caller requires workers: ``/healthz?require=workers``), so a
web container is not restarted because the workers are still starting.

Asking the workers is a broadcast on the broker that waits up to a second, so anonymous callers
(load balancers, container healthchecks, anyone) do not get a report of their own: they are
answered from the latest one, which the web processes share in the cache and compute again at
most once per ``SLAFLOW_HEALTH_CACHE_S`` seconds (``shared_report``), and they see only its
status — no vendor, queue counts or errors. Staff and token holders get a fresh full report.
"""

from __future__ import annotations

import logging
import time

import redis
from django.db import connection

from orchestrator.core import router
from store import keys

log = logging.getLogger("slaflow.health")


def _timed(check) -> dict:
    t0 = time.perf_counter()
    try:
        out = {"ok": True, **(check() or {})}
    except Exception as exc:  # a health check reports any failure instead of raising it
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    out["ms"] = round(1000 * (time.perf_counter() - t0), 1)
    return out


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _redis() -> dict:
    from django.conf import settings

    from store.redis_client import get_redis

    get_redis().ping()
    return {"embedded": settings.REDIS.embedded}


def worker_queues(timeout_s: float = 1.0, app=None) -> dict[str, list[str]]:
    """Live workers on the configured broker and the queues each consumes (one broadcast). ``app``: the
    Celery app to ask (None: the current one — slaflow's, which ``orchestrator.apps`` loads with Django and
    Celery's Django fix-up makes the default of every thread)."""
    if app is None:
        from celery import current_app as app

    replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    return {worker: sorted(q["name"] for q in queues) for worker, queues in replies.items()}


def _workers(timeout_s: float) -> dict:
    seen = worker_queues(timeout_s)
    served = {q for queues in seen.values() for q in queues}
    wanted = router.all_queues()
    return {
        "seen": len(seen),
        "queues": {q: sum(q in qs for qs in seen.values()) for q in wanted},
        "missing_queues": [q for q in wanted if q not in served],
    }


def report(*, workers_timeout_s: float = 1.0) -> dict:
    database, store = _timed(_database), _timed(_redis)
    workers = _timed(lambda: _workers(workers_timeout_s)) if store["ok"] else {"ok": False, "error": "no Redis"}
    if workers["ok"] and workers["missing_queues"]:
        workers["ok"] = False
    status = "down" if not (database["ok"] and store["ok"]) else ("ok" if workers["ok"] else "degraded")
    return {"status": status, "database": database, "redis": store, "workers": workers, "checked_at": time.time()}


def shared_report(max_age_s: float) -> dict:
    """The latest report any web process made within ``max_age_s`` (from the shared cache), else a new one,
    kept for the next callers. Without the cache (Redis down) every call makes a report, which then skips
    the workers' broadcast: no Redis, no broker to ask."""
    from django.core.cache import cache

    try:
        cached = cache.get(keys.HEALTH_CACHE_KEY) if max_age_s > 0 else None
    except redis.RedisError:
        return report()
    if cached is not None:
        return cached
    out = report()
    try:
        cache.set(keys.HEALTH_CACHE_KEY, out, timeout=max_age_s)
    except redis.RedisError as exc:
        log.warning("the health report could not be cached: %s", exc)
    return out
