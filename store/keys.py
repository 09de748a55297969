"""Every Redis key slaflow uses, built in one place.

All per-run keys share the prefix ``sf:run:<id>:`` so a run's data can be
found together; each also carries a TTL as a backstop. Per-node state lives
in a few hashes per run (outputs, counters, claims, waiters), not in a key
per node, so a run of 10,000 tasks has a handful of keys and its clean-up is
one ``UNLINK`` of names the run itself recorded (``registry``), never a scan
of the keyspace. Lua scripts receive these names as ``KEYS`` or build them from
``run_prefix`` with the Lua twin of each builder here (``K.deps(p)``, ``K.wake(p, token)``), which
``store.lua`` generates from these functions: no script spells a suffix.
"""

from __future__ import annotations

import functools

PREFIX = "sf"
# Django's cache (API throttle counters, the health report) keeps its keys under this prefix.
CACHE_PREFIX = f"{PREFIX}:cache"
# The latest health report anonymous /healthz callers are answered from (a key of Django's cache).
HEALTH_CACHE_KEY = "health-report"


def run_prefix(run_id: int) -> str:
    return f"{PREFIX}:run:{run_id}:"


def run_pattern(run_id: int) -> str:
    return run_prefix(run_id) + "*"


def meta(run_id: int) -> str:
    """JSON: the run's spec and compact plan, read once per process."""
    return run_prefix(run_id) + "meta"


def spec(run_id: int) -> str:
    """JSON: the run's graph spec with each node's upstream and downstream ids (parsed once per
    process and inputs hash)."""
    return run_prefix(run_id) + "spec"


def outputs(run_id: int) -> str:
    """Hash node → encoded output, for outputs that travel between branches."""
    return run_prefix(run_id) + "out"


def deps(run_id: int) -> str:
    """Hash ``child|upstream`` → 1: which inputs of each node finished (idempotent marks)."""
    return run_prefix(run_id) + "deps"


def dep_counts(run_id: int) -> str:
    """Hash node → how many of its inputs finished (incremented once per new mark in ``deps``)."""
    return run_prefix(run_id) + "depn"


def claims(run_id: int) -> str:
    """Hash node → token of the branch that completed its last input."""
    return run_prefix(run_id) + "claim"


def taken(run_id: int) -> str:
    """Hash node → how it was taken: p:/l:/d:/h:/q: + branch token."""
    return run_prefix(run_id) + "taken"


def waiters(run_id: int) -> str:
    """Hash node → token of a branch of the node's own logical worker waiting to run it."""
    return run_prefix(run_id) + "waiter"


def wake(run_id: int, token: str) -> str:
    """List a waiting branch blocks on; nodes handed to it are pushed here."""
    return run_prefix(run_id) + f"wake:{token}"


def ready(run_id: int, memory_mb: int) -> str:
    """List of flexible tasks ready to run on ``memory_mb``: executors pop from it."""
    return run_prefix(run_id) + f"ready:{int(memory_mb)}"


def ready_on(run_id: int, memory_mb: int, host: str) -> str:
    """List of flexible tasks ready on ``memory_mb`` whose biggest inputs live on ``host``: that host's
    executors pop it first, the others only when they have nothing else (work stealing)."""
    return run_prefix(run_id) + f"ready:{int(memory_mb)}@{host}"


def ready_hosts(run_id: int, memory_mb: int) -> str:
    """Set of the hosts with a ready list on ``memory_mb`` (where an idle executor steals from)."""
    return run_prefix(run_id) + f"rhosts:{int(memory_mb)}"


def near(run_id: int) -> str:
    """Hash ``child|host`` → bytes of the child's finished inputs in that host's shared memory, and
    ``child`` → the host with the most of them (where the child is best run)."""
    return run_prefix(run_id) + "near"


def executors(run_id: int, memory_mb: int) -> str:
    """Set of the run's executor tokens on ``memory_mb`` that are still popping."""
    return run_prefix(run_id) + f"execs:{int(memory_mb)}"


def ready_since(run_id: int, memory_mb: int) -> str:
    """Epoch seconds since which the ready list on ``memory_mb`` has not been empty, as the executor top-up
    saw it (``workers.topup``)."""
    return run_prefix(run_id) + f"ready-since:{int(memory_mb)}"


def held(run_id: int, token: str) -> str:
    """List of the nodes an executor popped (run again if its process dies)."""
    return run_prefix(run_id) + f"held:{token}"


def spawned(run_id: int) -> str:
    """Hash finished node → executor tokens its completion launched (a redelivery re-sends the same)."""
    return run_prefix(run_id) + "spawned"


def done(run_id: int) -> str:
    """Set of node ids that completed."""
    return run_prefix(run_id) + "done"


def states(run_id: int) -> str:
    """Hash node → live task state (running/succeeded/failed), for live views."""
    return run_prefix(run_id) + "states"


def live(run_id: int) -> str:
    """Set of branch tokens dispatched and not yet ended."""
    return run_prefix(run_id) + "live"


def lease(run_id: int, token: str) -> str:
    """Who runs a branch right now: "host:pid:nonce", with a TTL refreshed while it runs."""
    return run_prefix(run_id) + f"lease:{token}"


def branches(run_id: int) -> str:
    """Hash token → JSON {e: entries, w: worker, m: memory_mb}: how to send a branch again (takeover)."""
    return run_prefix(run_id) + "branches"


def current(run_id: int) -> str:
    """Hash token → the task the branch is running now (what a dead process was doing)."""
    return run_prefix(run_id) + "current"


def killed(run_id: int) -> str:
    """Hash node → "kind:reason" recorded before a pool process killed itself to stop that task."""
    return run_prefix(run_id) + "killed"


def prewarms(run_id: int) -> str:
    """Hash target task → JSON {sent_at, memory_mb, worker, sender}: the run's pre-warm pings."""
    return run_prefix(run_id) + "prewarms"


def prewarmed(run_id: int) -> str:
    """Hash target task → JSON {pid, memory_mb, at}: where and when each pre-warm ping was taken."""
    return run_prefix(run_id) + "prewarmed"


def dups(run_id: int) -> str:
    """Hash task → JSON of its duplicate: who ran it, the predicted saving, when each copy finished."""
    return run_prefix(run_id) + "dups"


def dup_lock(run_id: int, node_id: str) -> str:
    """Held (SET NX PX) by the one branch duplicating ``node_id``."""
    return run_prefix(run_id) + f"duplock:{node_id}"


def dup_attempts(run_id: int) -> str:
    """Hash: ``node`` → duplicates of it begun, ``node:refused`` → attempts its lock refused (TaskDup)."""
    return run_prefix(run_id) + "dupattempts"


def delaying(run_id: int) -> str:
    """Hash child → the branch token whose producer delays its upload waiting for that child (delayed I/O)."""
    return run_prefix(run_id) + "delaying"


def streams(run_id: int) -> str:
    """Hash task → JSON {attempt, len, chunk}: the outputs being (or that were) streamed in chunks."""
    return run_prefix(run_id) + "streams"


def stream(run_id: int, node_id: str) -> str:
    """A Redis stream of one output's chunks (``store.streams``; registered for clean-up)."""
    return run_prefix(run_id) + f"stream:{node_id}"


def map_widths(run_id: int) -> str:
    """Hash mapped node → how many element tasks its expansion released (``orchestrator.core.mapping``)."""
    return run_prefix(run_id) + "mapwidths"


def starts(run_id: int) -> str:
    """Hash task → epoch seconds it began (what TaskDup estimates a running upstream's end from)."""
    return run_prefix(run_id) + "starts"


def lease_index() -> str:
    """Sorted set "run_id|token" → lease expiry (epoch s): where any worker finds branches whose holder
    died (``workers.reaper``)."""
    return f"{PREFIX}:leases"


def deadlines() -> str:
    """Sorted set run_id → the epoch second by which the run must have ended (its deadline)."""
    return f"{PREFIX}:deadlines"


def watched() -> str:
    """Hash run_id → JSON {started_at, promise_s, typical_s, sla}: running runs whose promise the watcher
    tracks (``orchestrator.services.alerts``); removed when the run ends."""
    return f"{PREFIX}:watched"


def rescued(run_id: int) -> str:
    """Hash node → memory_mb: tasks a rescue re-planned onto that configuration, flexible
    (``planning.rescue``); read by the run's branches when the run has rescue on."""
    return run_prefix(run_id) + "rescued"


def bench_slowdown() -> str:
    """String: how many times its usual work ``experiments.bench.tasks.dialed`` does (``bench rescue``'s
    injected slow-down; 1 unless set)."""
    return f"{PREFIX}:bench:slowdown"


def once(name: str) -> str:
    """String, set NX with a TTL by the first caller of ``orchestrator.core.once.first(name)`` anywhere
    (``store.once``); e.g. ``straggler:<token>:<index>``, the library's straggler, slow only once."""
    return f"{PREFIX}:once:{name}"


def live_prediction(run_id: int) -> str:
    """Hash: the run's latest live prediction (predicted_end_s, predicted_makespan_s, will_miss, updated_at)."""
    return run_prefix(run_id) + "livepred"


def alert_fired(run_id: int, kind: str) -> str:
    """Set (NX, with a TTL) by the one process that fires ``kind`` for the run: each alert fires once. Outside
    the run's prefix so that the run's clean-up cannot re-arm it."""
    return f"{PREFIX}:alert:{run_id}:{kind}"


def deliveries(run_id: int) -> str:
    """Hash token → how many times the branch was taken up."""
    return run_prefix(run_id) + "deliveries"


def timing(run_id: int) -> str:
    """Hash of the run's branch overheads summed over branches (lease_s, context_s, record_s, branches)."""
    return run_prefix(run_id) + "timing"


def registry(run_id: int) -> str:
    """Set of the run's keys whose names depend on tokens or configurations (for clean-up)."""
    return run_prefix(run_id) + "registry"


def sink_done(run_id: int) -> str:
    """Epoch seconds at which the sink finished (its presence means success)."""
    return run_prefix(run_id) + "sink_done"


def result(run_id: int) -> str:
    """A big result's entry in the output store (its location), readable before its durable copy exists."""
    return run_prefix(run_id) + "result"


def over(run_id: int) -> str:
    """Set when the run failed or was cancelled: branches stop at the next check."""
    return run_prefix(run_id) + "over"


def finalized(run_id: int) -> str:
    return run_prefix(run_id) + "finalized"


def fixed_keys(run_id: int) -> list[str]:
    """Every per-run key with a fixed name."""
    return [
        meta(run_id),
        spec(run_id),
        outputs(run_id),
        deps(run_id),
        dep_counts(run_id),
        claims(run_id),
        taken(run_id),
        waiters(run_id),
        near(run_id),
        spawned(run_id),
        done(run_id),
        states(run_id),
        live(run_id),
        deliveries(run_id),
        branches(run_id),
        current(run_id),
        killed(run_id),
        prewarms(run_id),
        prewarmed(run_id),
        dups(run_id),
        dup_attempts(run_id),
        starts(run_id),
        delaying(run_id),
        streams(run_id),
        map_widths(run_id),
        live_prediction(run_id),
        timing(run_id),
        registry(run_id),
        sink_done(run_id),
        result(run_id),
        over(run_id),
        finalized(run_id),
    ]


def handoff(run_id: int, node_id: str) -> str:
    """List: the branch starting at ``node_id``, handed to the pre-warmed process waiting for it (PreWarm)."""
    return run_prefix(run_id) + f"handoff:{node_id}"


def handoff_wait(run_id: int, node_id: str) -> str:
    """Set (with a TTL) while a pre-warmed process waits for the branch starting at ``node_id``."""
    return run_prefix(run_id) + f"handoff-wait:{node_id}"


@functools.lru_cache(maxsize=8)
def redis_db(url: str) -> int:
    """The database number of a redis-py URL (``redis://host:port/N`` or ``unix://path?db=N``)."""
    from urllib.parse import parse_qs, urlparse

    parsed = urlparse(url)
    if "db" in parse_qs(parsed.query):
        return int(parse_qs(parsed.query)["db"][-1])
    return int(parsed.path.strip("/") or 0) if parsed.scheme in ("redis", "rediss") else 0


def channel_scope() -> str:
    """The prefix of every pub/sub channel. Channels are global to a Redis server, unlike keys (one
    database each), so they carry the database: two deployments on one server (a cluster on DB 0,
    the tests on DB 13) never hear each other's run 42 end, or its tasks finish."""
    from django.conf import settings

    return f"{PREFIX}:db{redis_db(settings.REDIS.client_url)}:"


def events(run_id: int) -> str:
    """Pub/sub channel of task completions (for preloading consumers)."""
    return f"{channel_scope()}run:{run_id}:events"


def flags_channel() -> str:
    """Pub/sub channel on which runs that end early (failed, cancelled) are announced to every process."""
    return channel_scope() + "flags"


def finished_signal(run_id: int) -> str:
    """List pushed once when the run reaches a final state (wakes waiting clients).

    Lives outside the run prefix so cleanup of the run's data does not race
    the client reading it; it expires on its own.
    """
    return f"{PREFIX}:finished:{run_id}"


def result_signal(run_id: int) -> str:
    """List pushed when a big result is in the output store (``result``), before the run is finished:
    wakes the clients waiting for it. Outside the run prefix, like ``finished_signal``."""
    return f"{PREFIX}:result-ready:{run_id}"


def prewarm(memory_mb: int, structure_hash: str) -> str:
    return f"{PREFIX}:prewarm:{memory_mb}:{structure_hash}"


def data_servers() -> str:
    """Hash "host|ip:port" → epoch seconds last heard: the data servers of each host (``store.server``)."""
    return f"{PREFIX}:dataservers"


def store_channel() -> str:
    """Pub/sub channel on which a run's end is announced to every host's data server ("drop <run>"):
    each removes its host's files of that run (``store.tiers``)."""
    return channel_scope() + "store"


def host_beats() -> str:
    """Hash host id → epoch seconds its workers last said they are alive (each worker's reaper, every
    second): with a failed fetch from its data server, what declares a host dead (``store.locations``)."""
    return f"{PREFIX}:hostbeats"


def fault_counts() -> str:
    """Hash "<run>:fenced" / "<run>:recomputed" → count: writes refused to a branch whose lease was taken
    over (``store.fencing``) and outputs recomputed after their host was lost (``workers.lineage``).
    Outside the run's prefix so the counts outlive the run's clean-up; the hash expires a day after its
    last change."""
    return f"{PREFIX}:faults"


def pools() -> str:
    """Hash worker node name → JSON {memory_mb, processes, keepalive_s, at, host, cores, cpus}: each
    configuration worker's live pool, its host's usable cores and each pool process's CPU quota,
    published by its autoscaler (``workers.autoscale``)."""
    return f"{PREFIX}:pools"
