"""The Redis data plane: outputs, task states, run flags and bookkeeping.

Which tasks are ready, and who runs them, is decided in ``workers.readiness``.
Here: outputs that travel between branches, the per-run live set of branches
(the last one out finalizes the run), the failed/cancelled flag branches check
before each task, and the signals clients wait on.
"""
from __future__ import annotations

import time
from typing import Iterable

from django.conf import settings

from workers import keys
from workers.redis_client import get_redis, script as _script

_BRANCH_END = """
-- KEYS: live, sink_done, over, finalized, lease   ARGV: token, ttl, lease holder
redis.call('SREM', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""

def ttl() -> int:
    return int(settings.SLAFLOW_RUN_TTL_S)


# --- outputs ------------------------------------------------------------------

def put_output(run_id: int, node_id: str, data: bytes) -> None:
    get_redis().set(keys.output(run_id, node_id), data, ex=ttl())


def get_output(run_id: int, node_id: str) -> bytes | None:
    return get_redis().get(keys.output(run_id, node_id))


def has_output(run_id: int, node_id: str) -> bool:
    return bool(get_redis().exists(keys.output(run_id, node_id)))


def get_outputs(run_id: int, node_ids: list[str]) -> list[bytes | None]:
    """Several outputs in one round trip."""
    if not node_ids:
        return []
    return get_redis().mget([keys.output(run_id, n) for n in node_ids])


# --- task states ------------------------------------------------------------------

def begin_task(run_id: int, node_id: str) -> bool:
    """Mark a task running (for live views); False when the run is already over (failed or
    cancelled), in which case the task must not start."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.exists(keys.over(run_id))
    pipe.hset(keys.states(run_id), node_id, "running")
    pipe.expire(keys.states(run_id), ttl())
    over = pipe.execute()[0]
    return not over


# --- run bookkeeping ------------------------------------------------------------

def add_live(run_id: int, tokens: Iterable[str]) -> None:
    tokens = list(tokens)
    if tokens:
        pipe = get_redis().pipeline()
        pipe.sadd(keys.live(run_id), *tokens)
        pipe.expire(keys.live(run_id), ttl())
        pipe.execute()


def branch_end(run_id: int, token: str, lease_holder: str = "") -> bool:
    """Remove a branch from the live set and release its lease, in one step (so a duplicate can
    never start it again in between); True for the one caller that must finalize the run."""
    return bool(
        _script("branch_end", _BRANCH_END)(
            keys=[keys.live(run_id), keys.sink_done(run_id), keys.over(run_id), keys.finalized(run_id),
                  keys.lease(run_id, token)],
            args=[token, ttl(), lease_holder],
        )
    )


def claim_finalize_if_idle(run_id: int) -> bool:
    """For runs ended from outside (cancel/fail with no live branch)."""
    client = get_redis()
    if client.scard(keys.live(run_id)):
        return False
    return bool(client.set(keys.finalized(run_id), "1", nx=True, ex=ttl()))


def set_state(run_id: int, node_id: str, state: str) -> None:
    pipe = get_redis().pipeline()
    pipe.hset(keys.states(run_id), node_id, state)
    pipe.expire(keys.states(run_id), ttl())
    pipe.execute()


def live_states(run_id: int) -> dict[str, str]:
    raw = get_redis().hgetall(keys.states(run_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def mark_sink_done(run_id: int, when: float) -> None:
    get_redis().set(keys.sink_done(run_id), repr(when), ex=ttl())


def sink_done_at(run_id: int) -> float | None:
    raw = get_redis().get(keys.sink_done(run_id))
    return float(raw) if raw else None


def mark_over(run_id: int, reason: str) -> None:
    get_redis().set(keys.over(run_id), reason, ex=ttl())


def is_over(run_id: int) -> bool:
    return bool(get_redis().exists(keys.over(run_id)))


def signal_finished(run_id: int, status: str) -> None:
    pipe = get_redis().pipeline()
    pipe.rpush(keys.finished_signal(run_id), status)
    pipe.expire(keys.finished_signal(run_id), 3600)
    pipe.execute()


def wait_finished(run_id: int, timeout_s: float) -> bool:
    """Block up to ``timeout_s`` for the run's finished signal (without consuming it)."""
    key = keys.finished_signal(run_id)
    client = get_redis()
    if client.llen(key):
        return True
    item = client.blpop([key], timeout=max(timeout_s, 0.01))
    if item:
        client.rpush(key, item[1])  # leave it for other waiters
        return True
    return False


def delete_run_data(run_id: int, keep: Iterable[str] = ()) -> int:
    """Delete a run's keys (its intermediate outputs included)."""
    client = get_redis()
    keep = set(keep)
    doomed = [k for k in client.scan_iter(match=keys.run_pattern(run_id), count=500) if k.decode() not in keep]
    deleted = 0
    for i in range(0, len(doomed), 500):
        deleted += client.delete(*doomed[i:i + 500])
    return deleted


def now() -> float:
    return time.time()
