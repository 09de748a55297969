"""The Redis data plane: outputs, task states, run flags and bookkeeping.

Which tasks are ready, and who runs them, is decided in ``store.readiness``.
Here: outputs that travel between branches, the per-run live set of branches
(the last one out finalizes the run), the failed/cancelled flag branches check
before each task (announced on ``keys.flags_channel`` too, see
``store.flags``), and the signals clients wait on.

Outputs go through the output store (``store.tiers``): what the outputs hash
holds is a small output itself or the location of a big one in its host's
shared memory; readers get it back resolved (mapped, or fetched from its host).

This module is the bottom layer: it imports only keys, the Redis client, fencing and the output store.
"""

from __future__ import annotations

import json
import time
from typing import Iterable

from django.conf import settings

from orchestrator.core import codec
from orchestrator.core.states import TaskStatus
from store import fencing, keys, lua, tiers
from store.redis_client import get_redis, text

# branch_end's keys (``execs``: '' for a branch that is no executor) and arguments, then (name, seconds)
# pairs of the branch's overheads.
_BRANCH_END_KEYS = ("live", "sink_done", "over", "finalized", "lease", "execs", "timing", "lease_index", "current")
_BRANCH_END_ARGS = ("tok", "ttl", "holder", "member")
_BRANCH_END = (
    lua.argv(_BRANCH_END_KEYS, "KEYS")
    + lua.argv(_BRANCH_END_ARGS)
    + """
for i = ARGV_REST, #ARGV, 2 do redis.call('HINCRBYFLOAT', timing, ARGV[i], ARGV[i + 1]) end
if #ARGV >= ARGV_REST then
  redis.call('HINCRBY', timing, 'branches', 1)
  redis.call('EXPIRE', timing, ttl)
end
redis.call('ZREM', lease_index, member)
redis.call('HDEL', current, tok)
redis.call('SREM', live, tok)
if execs ~= '' then redis.call('SREM', execs, tok) end
if holder ~= '' and redis.call('GET', lease) == holder then redis.call('DEL', lease) end
if redis.call('SCARD', live) > 0 then return 0 end
if redis.call('EXISTS', sink_done) == 0 and redis.call('EXISTS', over) == 0 then return 0 end
if redis.call('SET', finalized, '1', 'NX', 'EX', ttl) then return 1 end
return 0
"""
)


def ttl() -> int:
    return int(settings.SLAFLOW_RUN_TTL_S)


def token_keys(run_id: int, token: str) -> list[str]:
    """Keys named after a branch token (registered for clean-up when the token is made live)."""
    return [keys.lease(run_id, token), keys.wake(run_id, token), keys.held(run_id, token)]


# --- outputs ------------------------------------------------------------------


def put_output(run_id: int, node_id: str, data: "bytes | codec.Encoded") -> None:
    """Store an output once: the first copy stored stands (a duplicate's or a redelivery's, byte for
    byte what every consumer reads)."""
    entry = tiers.local().entry(run_id, node_id, data)
    pipe = get_redis().pipeline(transaction=False)
    pipe.hsetnx(keys.outputs(run_id), node_id, entry)
    pipe.expire(keys.outputs(run_id), ttl())
    pipe.execute()


def get_output(run_id: int, node_id: str) -> tiers.Fetched | None:
    return tiers.local().resolve(run_id, get_redis().hget(keys.outputs(run_id), node_id))


def has_output(run_id: int, node_id: str) -> bool:
    return bool(get_redis().hexists(keys.outputs(run_id), node_id))


def has_outputs(run_id: int, node_ids: list[str]) -> bool:
    """Whether every one of these outputs is stored (one round trip, nothing downloaded)."""
    pipe = get_redis().pipeline(transaction=False)
    for nid in node_ids:
        pipe.hexists(keys.outputs(run_id), nid)
    return all(pipe.execute())


def get_outputs(run_id: int, node_ids: list[str]) -> list[tiers.Fetched | None]:
    """Several outputs, their entries in one round trip (big ones then mapped, or fetched from their host)."""
    if not node_ids:
        return []
    store = tiers.local()
    return [store.resolve(run_id, raw) for raw in get_redis().hmget(keys.outputs(run_id), node_ids)]


def set_width(run_id: int, node_id: str, width: int) -> int:
    """A mapped node's width, stored before its element tasks are released (their gather reads it).
    Returns the elements of every map of the run stored so far, this one's included: of two expansions
    racing, the later write sees both (each reads after its own write), so a run-wide budget holds."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(keys.map_widths(run_id), node_id, int(width))
    pipe.expire(keys.map_widths(run_id), ttl())
    pipe.hvals(keys.map_widths(run_id))
    return sum(int(v) for v in pipe.execute()[-1])


# --- task states ------------------------------------------------------------------

_BEGIN_KEYS = ("over", "killed", "states", "current", "starts")
_BEGIN_ARGS = ("node", "tok", "now", "ttl")
_BEGIN = (
    lua.argv(_BEGIN_KEYS, "KEYS")
    + lua.argv(_BEGIN_ARGS)
    + """
local is_over = redis.call('EXISTS', over)
local why = redis.call('HGET', killed, node) or ''
redis.call('HSET', states, node, TASK.RUNNING)
redis.call('HSET', current, tok, node)
redis.call('HSET', starts, node, now)
for _, key in ipairs({states, current, starts}) do redis.call('EXPIRE', key, ttl) end
return {is_over, why}
"""
)


def _run_keys(run_id: int, *names: str) -> dict[str, str]:
    """The run's keys ``names``, each by the name of its builder in ``store.keys`` (a script's names for them)."""
    return {name: getattr(keys, name)(run_id) for name in names}


def begin_task(run_id: int, node_id: str, token: str, fence: fencing.Fence | None = None) -> tuple[bool, str | None]:
    """Mark a task running (for live views) as the branch's current one; (go on?, why a process was
    killed while running it before, if one was). Go on is False when the run is already over (failed
    or cancelled): the task must not start. Fenced with ``fence`` (``store.fencing``)."""
    over, killed = fencing.call(
        "begin_task",
        _BEGIN,
        keys=lua.pack(_BEGIN_KEYS, **_run_keys(run_id, *_BEGIN_KEYS)),
        args=lua.pack(_BEGIN_ARGS, node=node_id, tok=token, now=repr(time.time()), ttl=ttl()),
        fence=fence,
    )
    return not over, killed.decode() if killed else None


def record_killed(run_id: int, node_id: str, kind: str, reason: str) -> None:
    """Before a pool process kills itself to stop a task: why, for the branch's redelivery."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(keys.killed(run_id), node_id, f"{kind}:{reason}")
    pipe.expire(keys.killed(run_id), ttl())
    pipe.execute()


def killed_reason(run_id: int, node_id: str) -> str | None:
    raw = get_redis().hget(keys.killed(run_id), node_id)
    return text(raw) if raw else None


def current_task(run_id: int, token: str) -> str | None:
    """The task a branch was running (its process may have died in it)."""
    raw = get_redis().hget(keys.current(run_id), token)
    return text(raw) if raw else None


def register_branches(run_id: int, branches: dict[str, dict]) -> None:
    """How to send each branch again: token → {e: entries, w: worker, m: memory_mb} (for takeover)."""
    if branches:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hset(keys.branches(run_id), mapping={t: json.dumps(b) for t, b in branches.items()})
        pipe.expire(keys.branches(run_id), ttl())
        pipe.execute()


def branch_args(run_id: int, token: str) -> dict | None:
    raw = get_redis().hget(keys.branches(run_id), token)
    return json.loads(raw) if raw else None


def running_by_memory(now: float, limit: int = 10_000) -> dict[int, int]:
    """Branches holding a live lease (taken, not yet ended: Celery's reserved work) per configuration's
    memory, from the lease index and each branch's registered arguments; two round trips."""
    client = get_redis()
    members = [text(m) for m in client.zrangebyscore(keys.lease_index(), now, "+inf", start=0, num=limit)]
    pipe = client.pipeline(transaction=False)
    for member in members:
        run, _, token = member.partition("|")
        pipe.hget(keys.branches(int(run)), token)
    out: dict[int, int] = {}
    for raw in pipe.execute():
        if raw:
            mb = int(json.loads(raw)["m"])
            out[mb] = out.get(mb, 0) + 1
    return out


# --- run bookkeeping ------------------------------------------------------------


def add_live(run_id: int, tokens: Iterable[str]) -> None:
    tokens = list(tokens)
    if tokens:
        pipe = get_redis().pipeline()
        pipe.sadd(keys.live(run_id), *tokens)
        pipe.sadd(keys.registry(run_id), *[k for t in tokens for k in token_keys(run_id, t)])
        pipe.expire(keys.live(run_id), ttl())
        pipe.expire(keys.registry(run_id), ttl())
        pipe.execute()


def branch_end(
    run_id: int,
    token: str,
    lease_holder: str = "",
    executor_of: int | None = None,
    overheads: dict[str, float] | None = None,
    fence: fencing.Fence | None = None,
) -> bool:
    """Remove a branch from the live set (and, for an executor, from its configuration's executors)
    and release its lease, in one step (so a duplicate can never start it again in between); the
    branch's ``overheads`` (seconds by name) add to the run's totals. True for the one caller that
    must finalize the run. A delivery that was taken over (``fence``) ends nothing: ``Fenced``."""
    execs = keys.executors(run_id, executor_of) if executor_of is not None else ""
    pairs = [x for name, seconds in (overheads or {}).items() for x in (name, repr(float(seconds)))]
    return bool(
        fencing.call(
            "branch_end",
            _BRANCH_END,
            keys=lua.pack(
                _BRANCH_END_KEYS,
                **_run_keys(run_id, "live", "sink_done", "over", "finalized", "timing", "current"),
                lease=keys.lease(run_id, token),
                execs=execs,
                lease_index=keys.lease_index(),
            ),
            args=[
                *lua.pack(_BRANCH_END_ARGS, tok=token, ttl=ttl(), holder=lease_holder, member=f"{run_id}|{token}"),
                *pairs,
            ],
            fence=fence,
        )
    )


def overheads(run_id: int) -> dict[str, float]:
    """The run's branch overheads summed so far (``branch_end``)."""
    return {text(k): float(v) for k, v in get_redis().hgetall(keys.timing(run_id)).items()}


def claim_finalize_if_idle(run_id: int) -> bool:
    """For runs ended from outside (cancel/fail with no live branch)."""
    client = get_redis()
    if client.scard(keys.live(run_id)):
        return False
    return bool(client.set(keys.finalized(run_id), "1", nx=True, ex=ttl()))


def note_oom(run_id: int, token: str) -> None:
    """A delivery of branch ``token`` found its previous process killed for memory."""
    get_redis().hset(keys.deliveries(run_id), f"{token}:oom", 1)


def was_oom(run_id: int, token: str) -> bool:
    return bool(get_redis().hexists(keys.deliveries(run_id), f"{token}:oom"))


def set_state(run_id: int, node_id: str, state: str) -> None:
    """A task's live state (one of ``TaskStatus``), for live views."""
    pipe = get_redis().pipeline()
    pipe.hset(keys.states(run_id), node_id, TaskStatus(state).value)
    pipe.expire(keys.states(run_id), ttl())
    pipe.execute()


def live_states(run_id: int) -> dict[str, str]:
    raw = get_redis().hgetall(keys.states(run_id))
    return {text(k): text(v) for k, v in raw.items()}


_SINK_DONE_ARGS = ("at", "ttl")
_SINK_DONE = (
    lua.argv(("sink_done",), "KEYS")
    + lua.argv(_SINK_DONE_ARGS)
    + "redis.call('SET', sink_done, at, 'EX', ttl) return 1"
)


def mark_sink_done(run_id: int, when: float, fence: fencing.Fence | None = None) -> None:
    fencing.call(
        "sink_done",
        _SINK_DONE,
        keys=[keys.sink_done(run_id)],
        args=lua.pack(_SINK_DONE_ARGS, at=repr(when), ttl=ttl()),
        fence=fence,
    )


def sink_done_at(run_id: int) -> float | None:
    raw = get_redis().get(keys.sink_done(run_id))
    return float(raw) if raw else None


_PUBLISH_RESULT_ARGS = ("entry", "ttl", "signal_ttl")
_PUBLISH_RESULT = (
    lua.argv(("result", "signal"), "KEYS")
    + lua.argv(_PUBLISH_RESULT_ARGS)
    + """
redis.call('SET', result, entry, 'EX', ttl)
redis.call('RPUSH', signal, '1')
redis.call('EXPIRE', signal, signal_ttl)
return 1
"""
)


def publish_result(
    run_id: int, node_id: str, data: "bytes | codec.Encoded", fence: fencing.Fence | None = None
) -> bool:
    """Hand a big result to its readers before its durable copy is written: ``data`` (the sink
    ``node_id``'s encoded output) goes once into the output store — host shared memory, or the object
    store — its location under ``keys.result`` and the waiting clients are woken. False, writing
    nothing, for a result the output store would keep in Redis (small: its durable copy is quick).
    The run's files stay until it is finalized, which is after its durable copy exists."""
    store = tiers.local()
    if not store.out_of_line(len(data)):
        return False
    entry = store.entry(run_id, node_id, data)
    fencing.call(
        "publish_result",
        _PUBLISH_RESULT,
        keys=[keys.result(run_id), keys.result_signal(run_id)],
        args=lua.pack(_PUBLISH_RESULT_ARGS, entry=entry, ttl=ttl(), signal_ttl=3600),
        fence=fence,
    )
    return True


def published_result(run_id: int) -> tiers.Fetched | None:
    """The run's result from the output store, when it was published there (``publish_result``) and can
    be read on this host; None otherwise (the durable copy is the one to read)."""
    return tiers.local().resolve_here(run_id, get_redis().get(keys.result(run_id)))


def has_published_result(run_id: int) -> bool:
    return bool(get_redis().exists(keys.result(run_id)))


def mark_over(run_id: int, reason: str, fence: fencing.Fence | None = None) -> None:
    """Flag the run as over (failed / cancelled) and tell every process at once (a branch's failure only
    while its delivery is current: ``fence``)."""
    fencing.check(fence)
    pipe = get_redis().pipeline()
    pipe.set(keys.over(run_id), reason, ex=ttl())
    pipe.publish(keys.flags_channel(), f"over {run_id} {reason}")
    pipe.execute()


def announce_duplicate_done(run_id: int, node_id: str) -> None:
    """A duplicate finished ``node_id`` first: its original, wherever it runs, stops."""
    get_redis().publish(keys.flags_channel(), f"dup {run_id} {node_id}")


def is_over(run_id: int) -> bool:
    return bool(get_redis().exists(keys.over(run_id)))


def signal_finished(run_id: int, status: str) -> None:
    pipe = get_redis().pipeline()
    pipe.rpush(keys.finished_signal(run_id), status)
    pipe.expire(keys.finished_signal(run_id), 3600)
    pipe.execute()


def wait_finished(run_id: int, timeout_s: float, result: bool = False) -> bool:
    """Block up to ``timeout_s`` for the run's finished signal — or, with ``result``, its result's
    publication (``publish_result``) — without consuming it."""
    signals = [keys.finished_signal(run_id)] + ([keys.result_signal(run_id)] if result else [])
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    for key in signals:
        pipe.llen(key)
    if any(pipe.execute()):
        return True
    item = client.blpop(signals, timeout=max(timeout_s, 0.01))
    if item:
        client.rpush(item[0], item[1])  # leave it for other waiters
        return True
    return False


def delete_run_data(run_id: int) -> int:
    """Delete a run's keys (its intermediate outputs included): the fixed names plus the ones the
    run registered as it went — no scan of the keyspace — and its output files on every host."""
    client = get_redis()
    doomed = keys.fixed_keys(run_id) + [text(k) for k in client.smembers(keys.registry(run_id))]
    deleted = 0
    for i in range(0, len(doomed), 1000):
        deleted += client.unlink(*doomed[i : i + 1000])
    tiers.local().drop_run(run_id)  # its files in shared memory, on every host
    return deleted


def now() -> float:
    return time.time()


def record_prewarmed(run_id: int, target: str, pid: int, memory_mb: int) -> None:
    """A pre-warm ping for ``target`` was taken by process ``pid``, now."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(keys.prewarmed(run_id), target, json.dumps({"pid": pid, "memory_mb": memory_mb, "at": time.time()}))
    pipe.expire(keys.prewarmed(run_id), ttl())
    pipe.execute()


def hash_of(key: str) -> dict[str, str]:
    """A (small) hash, decoded (a run's pre-warms, its duplicates)."""
    return {text(k): text(v) for k, v in get_redis().hgetall(key).items()}


def set_deadline(run_id: int, epoch_s: float) -> None:
    get_redis().zadd(keys.deadlines(), {str(run_id): epoch_s})


def clear_deadline(run_id: int) -> None:
    get_redis().zrem(keys.deadlines(), str(run_id))
