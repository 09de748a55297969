"""The Redis data plane: outputs, dependency counters, hand-offs, run flags.

Readiness is decided atomically in Lua so that no central loop is needed and a
redelivered message never makes a child ready twice:

* ``complete(child, parent)`` adds ``parent`` to the child's set of finished
  upstreams. When the set is full, the first branch to get there *claims* the
  child. The child is then either handed to a branch of its own logical worker
  that is waiting for it (``HANDED``) or left to the claimer (``READY``), who
  runs it locally or dispatches it and records which (``mark_taken``).
* A claimer redelivered with the same branch token gets ``READY`` again until
  it records a dispatch; after that, never again.

``taken`` holds how each ready node was taken: ``p:`` claimed, ``l:`` running
locally in the claimer's branch, ``d:`` dispatched as a new branch, ``h:``
handed to a waiting branch; each followed by the branch token.
"""
from __future__ import annotations

import time
from typing import Iterable

from django.conf import settings

from workers import keys
from workers.redis_client import get_redis

NOT_READY, READY, HANDED = 0, 1, 2

_COMPLETE = """
-- KEYS: deps, claim, taken, waiter   ARGV: parent, needed, token, ttl, child, wake_prefix
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) then return 0 end
local owner = redis.call('GET', KEYS[2])
if not owner then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
  owner = ARGV[3]
end
if owner ~= ARGV[3] then return 0 end
local how = redis.call('HGET', KEYS[3], ARGV[5])
if how then
  local kind = string.sub(how, 1, 1)
  if (kind == 'p' or kind == 'l') and string.sub(how, 3) == ARGV[3] then return 1 end
  return 0
end
local w = redis.call('GET', KEYS[4])
if w then
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[3], ARGV[5], 'h:' .. w)
  redis.call('RPUSH', ARGV[6] .. w, ARGV[5])
  redis.call('EXPIRE', ARGV[6] .. w, ARGV[4])
  return 2
end
redis.call('HSET', KEYS[3], ARGV[5], 'p:' .. ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
"""

_WAIT_FOR = """
-- KEYS: deps, taken, waiter   ARGV: child, needed, token, ttl
-- 1: take it now; 0: registered as waiter; -1: someone else runs it
local how = redis.call('HGET', KEYS[2], ARGV[1])
if how then
  if string.sub(how, 1, 1) ~= 'd' and string.sub(how, 3) == ARGV[3] then
    redis.call('HSET', KEYS[2], ARGV[1], 'l:' .. ARGV[3])
    return 1
  end
  return -1
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[1], 'l:' .. ARGV[3])
  return 1
end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
return 0
"""

_STOP_WAITING = """
-- KEYS: waiter   ARGV: token    1: we withdrew; 0: it was already handed to us
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

_BRANCH_END = """
-- KEYS: live, sink_done, over, finalized   ARGV: token, ttl
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""

_scripts: dict = {}


def _script(name: str, body: str):
    client = get_redis()
    key = (name, id(client))
    if key not in _scripts:
        _scripts[key] = client.register_script(body)
    return _scripts[key]


def ttl() -> int:
    return int(settings.SLAFLOW_RUN_TTL_S)


# --- outputs ------------------------------------------------------------------

def put_output(run_id: int, node_id: str, data: bytes) -> None:
    get_redis().set(keys.output(run_id, node_id), data, ex=ttl())


def get_output(run_id: int, node_id: str) -> bytes | None:
    return get_redis().get(keys.output(run_id, node_id))


def has_output(run_id: int, node_id: str) -> bool:
    return bool(get_redis().exists(keys.output(run_id, node_id)))


# --- readiness ----------------------------------------------------------------

def complete(run_id: int, child: str, parent: str, needed: int, token: str) -> int:
    """Record ``parent`` finished for ``child``; NOT_READY, READY or HANDED."""
    return int(
        _script("complete", _COMPLETE)(
            keys=[keys.deps(run_id, child), keys.claim(run_id, child), keys.taken(run_id), keys.waiter(run_id, child)],
            args=[parent, needed, token, ttl(), child, keys.wake(run_id, "")],
        )
    )


def mark_taken(run_id: int, node_id: str, how: str, token: str) -> None:
    """After READY: ``how`` is 'l' (run here) or 'd' (dispatched)."""
    assert how in ("l", "d")
    get_redis().hset(keys.taken(run_id), node_id, f"{how}:{token}")


def taken_by(run_id: int, node_id: str) -> str | None:
    raw = get_redis().hget(keys.taken(run_id), node_id)
    return raw.decode() if raw else None


def wait_for(run_id: int, child: str, needed: int, token: str) -> int:
    """Register ``token`` as the waiter for ``child``: 1 take now, 0 waiting, -1 not ours."""
    return int(
        _script("wait_for", _WAIT_FOR)(
            keys=[keys.deps(run_id, child), keys.taken(run_id), keys.waiter(run_id, child)],
            args=[child, needed, token, ttl()],
        )
    )


def waiter_of(run_id: int, child: str) -> str | None:
    """Token of the branch registered as waiting for ``child``, if any."""
    raw = get_redis().get(keys.waiter(run_id, child))
    return raw.decode() if raw else None


def stop_waiting(run_id: int, child: str, token: str) -> bool:
    """Withdraw as waiter; False means the child was already handed to us."""
    return bool(_script("stop_waiting", _STOP_WAITING)(keys=[keys.waiter(run_id, child)], args=[token]))


def next_handed(run_id: int, token: str, timeout_s: float) -> str | None:
    """Block until a node is handed to this branch, or the timeout passes."""
    client = get_redis()
    key = keys.wake(run_id, token)
    if timeout_s <= 0:
        raw = client.lpop(key)
    else:
        item = client.blpop([key], timeout=max(timeout_s, 0.01))
        raw = item[1] if item else None
    return raw.decode() if raw else None


# --- run bookkeeping ------------------------------------------------------------

def add_live(run_id: int, tokens: Iterable[str]) -> None:
    tokens = list(tokens)
    if tokens:
        pipe = get_redis().pipeline()
        pipe.sadd(keys.live(run_id), *tokens)
        pipe.expire(keys.live(run_id), ttl())
        pipe.execute()


def branch_end(run_id: int, token: str) -> bool:
    """Remove a branch from the live set; True for the one caller that must finalize."""
    return bool(
        _script("branch_end", _BRANCH_END)(
            keys=[keys.live(run_id), keys.sink_done(run_id), keys.over(run_id), keys.finalized(run_id)],
            args=[token, ttl()],
        )
    )


def claim_finalize_if_idle(run_id: int) -> bool:
    """For runs ended from outside (cancel/fail with no live branch)."""
    client = get_redis()
    if client.scard(keys.live(run_id)):
        return False
    return bool(client.set(keys.finalized(run_id), "1", nx=True, ex=ttl()))


def count_delivery(run_id: int, token: str) -> int:
    client = get_redis()
    key = keys.deliveries(run_id, token)
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, ttl())
    return int(pipe.execute()[0])


def mark_done(run_id: int, node_id: str) -> None:
    pipe = get_redis().pipeline()
    pipe.sadd(keys.done(run_id), node_id)
    pipe.expire(keys.done(run_id), ttl())
    pipe.hset(keys.states(run_id), node_id, "succeeded")
    pipe.expire(keys.states(run_id), ttl())
    pipe.publish(keys.events(run_id), node_id)
    pipe.execute()


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
