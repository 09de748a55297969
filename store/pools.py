"""Each configuration worker's live pool and host, as its autoscaler publishes it (``keys.pools()``).

The planner reads it (``read_pools``) to know which processes a branch would
find idle, and (``read_capacity``) how many cores the hosts have for those
processes to share — pool processes of every configuration on one host share
its cores, so a plan whose parallel CPU-bound branches outnumber them runs
slower than each configuration's quota says; the runtime reads it (``serves``)
before sending work to one host's queue. A bottom-layer module (keys, the
Redis client and the output store's host name only), so planning can read it
without importing Celery's worker machinery.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from store import keys, tiers
from store.redis_client import get_redis

STALE_MARGIN_S = 3.0  # an idle worker publishes every keep-alive window; older entries are gone workers
FORGET_S = 3600.0
CGROUP_ROOT = Path(os.environ.get("SLAFLOW_CGROUP_ROOT", "/sys/fs/cgroup"))


def host_cores() -> float:
    """Cores this host lets its processes use: the CPUs it may be scheduled on, or less if the
    cgroup it runs in (a container's ``cpus``, cgroup v2 ``cpu.max``) caps them."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = float(os.cpu_count() or 1)
    try:
        quota, period = (CGROUP_ROOT / "cpu.max").read_text().split()[:2]
        if quota != "max" and float(period) > 0:
            cores = min(cores, float(quota) / float(period))
    except (OSError, ValueError):
        pass
    return max(cores, 0.01)


def publish(
    name: str,
    *,
    memory_mb: int,
    processes: int,
    keepalive_s: float,
    now: float,
    cores: float | None = None,
    cpus: float | None = None,
    host: str | None = None,
) -> None:
    """``cores``: the host's usable cores (``host_cores``); ``cpus``: each pool process's quota."""
    entry = {
        "memory_mb": memory_mb,
        "processes": processes,
        "keepalive_s": keepalive_s,
        "at": now,
        "host": host or tiers.host_id(),
        "cores": host_cores() if cores is None else float(cores),
    }
    if cpus is not None:
        entry["cpus"] = float(cpus)
    get_redis().hset(keys.pools(), name, json.dumps(entry))


def _live_entries(now: float | None) -> list[dict]:
    """Entries of workers that published within their keep-alive window (and a margin)."""
    now = time.time() if now is None else now
    client = get_redis()
    out = []
    for name, raw in client.hgetall(keys.pools()).items():
        try:
            entry = json.loads(raw)
            if now - float(entry["at"]) > FORGET_S:
                client.hdel(keys.pools(), name)  # a worker long gone (each local cluster names its own)
            if now - float(entry["at"]) > float(entry.get("keepalive_s") or 0) + STALE_MARGIN_S:
                continue
            entry["memory_mb"], entry["processes"] = int(entry["memory_mb"]), int(entry["processes"])
            entry["name"] = name.decode() if isinstance(name, bytes) else str(name)
            out.append(entry)
        except (ValueError, KeyError, TypeError):
            continue
    return out


def live_workers(now: float | None = None) -> list[dict]:
    """Each live worker's published entry (``name``, ``host``, ``memory_mb``, ``processes``, ``cores``,
    ``cpus``, ``at``): what ``slaflow status`` and ``/metrics`` show."""
    return sorted(_live_entries(now), key=lambda e: (e["memory_mb"], e["name"]))


_SERVED: tuple[float, frozenset] = (0.0, frozenset())
SERVED_TTL_S = 5.0


def serves(host: str, memory_mb: int, now: float | None = None) -> bool:
    """Whether a live worker of configuration ``memory_mb`` runs on ``host`` (``store.tiers.host_id``),
    so a message sent to that host's queue of it is taken (``orchestrator.core.router.host_queue_for``).
    Read at most every ``SERVED_TTL_S`` per process."""
    global _SERVED
    now = time.time() if now is None else now
    at, served = _SERVED
    if now - at > SERVED_TTL_S or now < at:
        served = frozenset((str(e.get("host")), int(e["memory_mb"])) for e in _live_entries(now))
        _SERVED = (now, served)
    return (host, int(memory_mb)) in served


def _with_cores(now: float | None) -> Iterator[tuple[dict, str, float]]:
    """(entry, host, its cores) of the live workers that publish their host's cores (a worker of an older
    version does not say)."""
    for entry in _live_entries(now):
        try:
            c = float(entry["cores"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(c) and c > 0:
            yield entry, str(entry.get("host") or "?"), c


_SLOTS: tuple[float, dict[int, int], int] = (0.0, {}, 0)


def core_slots(memory_mb: int | None = None, now: float | None = None) -> int | None:
    """How many CPU-bound tasks of configuration ``memory_mb`` the live hosts serving it can run at
    once without sharing a core: each such host's usable cores (whole, at least one), summed over the
    hosts (``memory_mb`` None: every live host). None when no live worker says (nobody publishes, or a
    configuration served elsewhere, e.g. on Lambda). Read at most every ``SERVED_TTL_S`` per process:
    runs' executors are capped with it on every finished task (``store.readiness.executor_cap``)."""
    global _SLOTS
    now = time.time() if now is None else now
    at, by_config, every = _SLOTS
    if now - at > SERVED_TTL_S or now < at:
        hosts: dict[str, float] = {}
        served: dict[int, set[str]] = {}
        for entry, host, c in _with_cores(now):
            hosts[host] = max(hosts.get(host, 0.0), c)
            served.setdefault(entry["memory_mb"], set()).add(host)

        def whole(names: set[str] | dict[str, float]) -> int:
            return sum(max(1, int(hosts[h])) for h in names)

        by_config, every = {mb: whole(names) for mb, names in served.items()}, whole(hosts)
        _SLOTS = (now, by_config, every)
    if memory_mb is None:
        return every or None
    return by_config.get(int(memory_mb))


def read_pools(now: float | None = None) -> dict[int, int]:
    """Live pool processes per memory size. Empty when nobody publishes (the planner then assumes
    each pool's minimum)."""
    out: dict[int, int] = {}
    for entry in _live_entries(now):
        out[entry["memory_mb"]] = out.get(entry["memory_mb"], 0) + entry["processes"]
    return out


@dataclass(frozen=True)
class Capacity:
    """What the live workers' hosts offer: ``cores`` summed over hosts (None: nobody published
    them), the hosts, and each configuration's per-process CPU quota."""

    cores: float | None = None
    hosts: tuple[str, ...] = ()
    quotas: dict[int, float] = field(default_factory=dict)


def read_capacity(now: float | None = None) -> Capacity:
    cores: dict[str, float] = {}
    quotas: dict[int, float] = {}
    for entry, host, c in _with_cores(now):
        cores[host] = max(cores.get(host, 0.0), c)
        if entry.get("cpus") is not None:
            quotas[entry["memory_mb"]] = float(entry["cpus"])
    if not cores:
        return Capacity()
    return Capacity(cores=round(sum(cores.values()), 3), hosts=tuple(sorted(cores)), quotas=quotas)
