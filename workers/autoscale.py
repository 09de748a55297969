"""The pool autoscaler, publishing each worker's pool for the planner.

Celery's autoscaler grows a pool as branches arrive and shrinks it only after
its queue received nothing for the keep-alive window — the whole pool at
once, not process by process (it looks every keep-alive window, and at each
message). So a process that sat out the last few runs is
still there, and a branch landing on it starts cold (reconnects and reloads)
in a few milliseconds, not as a new process that must be forked first
(hundreds of milliseconds). The planner cannot see a pool; this autoscaler
tells it: on every scaling decision and once a second it writes the pool's
size to ``keys.pools()``
(``read_pools`` reads it back).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time

from celery.worker.autoscale import Autoscaler

log = logging.getLogger(__name__)

STALE_MARGIN_S = 3.0  # an idle worker publishes every keep-alive window; older entries are gone workers
FORGET_S = 3600.0


class PoolAutoscaler(Autoscaler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._published = 0.0
        self._name = getattr(kwargs.get("worker"), "hostname", None) or f"{socket.gethostname()}:{os.getpid()}"

    def _maybe_scale(self, req=None):
        scaled = super()._maybe_scale(req)
        now = time.time()
        if scaled or req is None or now - self._published > 1.0:
            self.publish(now)
        return scaled

    def publish(self, now: float) -> None:
        memory_mb = os.environ.get("SLAFLOW_WORKER_MEMORY_MB")
        if not memory_mb:
            return
        entry = {"memory_mb": int(memory_mb), "processes": int(self.processes),
                 "keepalive_s": float(self.keepalive), "at": now}
        try:
            from workers import keys
            from workers.redis_client import get_redis

            get_redis().hset(keys.pools(), self._name, json.dumps(entry))
            self._published = now
        except Exception as exc:  # the pool works without the planner's view of it
            log.debug("cannot publish the pool: %r", exc)


def read_pools(now: float | None = None) -> dict[int, int]:
    """Live pool processes per memory size, from workers that published within their keep-alive
    window (and a margin). Empty when nobody publishes (the planner then assumes each pool's minimum)."""
    from workers import keys
    from workers.redis_client import get_redis

    now = time.time() if now is None else now
    client = get_redis()
    out: dict[int, int] = {}
    for name, raw in client.hgetall(keys.pools()).items():
        try:
            entry = json.loads(raw)
            if now - float(entry["at"]) > FORGET_S:
                client.hdel(keys.pools(), name)  # a worker long gone (each local cluster names its own)
            if now - float(entry["at"]) > float(entry.get("keepalive_s") or 0) + STALE_MARGIN_S:
                continue
            mb = int(entry["memory_mb"])
            out[mb] = out.get(mb, 0) + int(entry["processes"])
        except (ValueError, KeyError, TypeError):
            continue
    return out
