"""Each configuration worker's live pool, as its autoscaler publishes it (``keys.pools()``).

The planner reads it (``read_pools``) to know which processes a branch would
find idle; a bottom-layer module (keys and the Redis client only), so
planning can read it without importing Celery's worker machinery.
"""
from __future__ import annotations

import json
import time

from workers import keys
from workers.redis_client import get_redis

STALE_MARGIN_S = 3.0  # an idle worker publishes every keep-alive window; older entries are gone workers
FORGET_S = 3600.0


def publish(name: str, *, memory_mb: int, processes: int, keepalive_s: float, now: float) -> None:
    entry = {"memory_mb": memory_mb, "processes": processes, "keepalive_s": keepalive_s, "at": now}
    get_redis().hset(keys.pools(), name, json.dumps(entry))


def read_pools(now: float | None = None) -> dict[int, int]:
    """Live pool processes per memory size, from workers that published within their keep-alive
    window (and a margin). Empty when nobody publishes (the planner then assumes each pool's minimum)."""
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
