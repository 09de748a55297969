"""Deciding in Redis, atomically, which tasks are ready and who runs them.

No central loop: when a branch finishes a task it calls ``finish_task`` once.
One Lua script then, atomically: stores the output if it must travel, marks
the task done, and for every child adds the task to the child's set of
finished inputs. A child whose set becomes full is *claimed* by that branch
and then either

* handed to a branch of the child's own logical worker that is waiting for it
  (``HANDED``: pushed on that branch's wake list),
* kept by this branch (``LOCAL``: its own worker's child, or the one child a
  flexible branch continues with), or
* left for this branch to dispatch as a new branch (``DISPATCH``; recorded as
  dispatched by ``mark_dispatched`` once the message is sent).

A child of this branch's own worker that is not ready yet is *waited for*:
the branch registers as its waiter in the same call (``WAITING``), so there is
no moment in which the last input could complete unseen.

``taken`` records, per claimed child, ``p:`` (claimed, to dispatch), ``l:``
(run by the claimer), ``d:`` (dispatched) or ``h:`` (handed), each followed by
a branch token. A branch redelivered with the same token (its process died)
gets its ``p:``/``l:`` children again; a ``d:`` child is never dispatched twice.

When another branch of the same logical worker waits for a child, or already
holds it, it will read this task's output from Redis. If the caller did not
attach the output, the script changes nothing and answers ``UPLOAD_FIRST``;
the caller calls again with the output. So an output is never missing when
its consumer looks for it.

The script builds per-run key names from ``keys.run_prefix`` with the same
suffixes as ``workers.keys`` (checked by tests).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from workers import keys
from workers.redis_client import get_redis, script as _script

NOT_READY, LOCAL, DISPATCH, HANDED, WAITING = 0, 1, 2, 3, 4
UPLOAD_FIRST = -1

# Child modes, from the finishing branch's point of view.
OWN = "own"  # same logical worker, same branch: run here, or wait for it
OWN_NEW = "own-new"  # same logical worker, but the plan starts it in a new branch: never waited for
FLEX = "flex"  # flexible child a flexible branch may continue with
OTHER = "other"  # anything else: dispatched by whoever completes its last input

_FINISH = """
-- ARGV: prefix, node, token, ttl, has_output, output, n, then n × (child, needed, mode)
local p, node, tok, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[7])
local taken = p .. 'taken'
if ARGV[5] ~= '1' then
  for k = 0, n - 1 do
    local child, mode = ARGV[8 + 3 * k], ARGV[10 + 3 * k]
    if mode == 'own' then
      local w = redis.call('GET', p .. 'waiter:' .. child)
      local how = redis.call('HGET', taken, child)
      if (w and w ~= tok) or (how and string.sub(how, 3) ~= tok) then return {-1} end
    end
  end
else
  redis.call('SET', p .. 'out:' .. node, ARGV[6], 'EX', ttl)
end
redis.call('SADD', p .. 'done', node)
redis.call('EXPIRE', p .. 'done', ttl)
redis.call('HSET', p .. 'states', node, 'succeeded')
redis.call('PUBLISH', p .. 'events', node)
local res = {}
local flex_taken = false
for k = 0, n - 1 do
  local child, needed, mode = ARGV[8 + 3 * k], tonumber(ARGV[9 + 3 * k]), ARGV[10 + 3 * k]
  local deps = p .. 'deps:' .. child
  local waiter = p .. 'waiter:' .. child
  redis.call('SADD', deps, node)
  redis.call('EXPIRE', deps, ttl)
  local out = 0
  if redis.call('SCARD', deps) >= needed then
    local claim = p .. 'claim:' .. child
    local owner = redis.call('GET', claim)
    if not owner then
      redis.call('SET', claim, tok, 'EX', ttl)
      owner = tok
    end
    if owner == tok then
      local how = redis.call('HGET', taken, child)
      if how then
        -- redelivered claimer: its own unfinished business comes back to it
        if string.sub(how, 3) == tok then
          local kind = string.sub(how, 1, 1)
          if kind == 'l' then out = 1 elseif kind == 'p' then out = 2 end
          if out == 1 and mode == 'flex' then flex_taken = true end
        end
      else
        local w = redis.call('GET', waiter)
        if w and w ~= tok then
          redis.call('DEL', waiter)
          redis.call('HSET', taken, child, 'h:' .. w)
          redis.call('RPUSH', p .. 'wake:' .. w, child)
          redis.call('EXPIRE', p .. 'wake:' .. w, ttl)
          out = 3
        else
          if w then redis.call('DEL', waiter) end
          if mode == 'own' or (mode == 'flex' and not flex_taken) then
            if mode == 'flex' then flex_taken = true end
            redis.call('HSET', taken, child, 'l:' .. tok)
            out = 1
          else
            redis.call('HSET', taken, child, 'p:' .. tok)
            out = 2
          end
        end
      end
    end
  elseif mode == 'own' then
    local w = redis.call('GET', waiter)
    if (not w) or w == tok then
      redis.call('SET', waiter, tok, 'EX', ttl)
      out = 4
    end
  end
  res[k + 1] = out
end
redis.call('EXPIRE', taken, ttl)
return res
"""

_STOP_WAITING = """
-- KEYS: waiter   ARGV: token    1: we withdrew; 0: it was already handed to us
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

@dataclass(frozen=True)
class Child:
    node_id: str
    needed: int  # how many inputs it has
    mode: str  # OWN, OWN_NEW, FLEX or OTHER


def finish_task(run_id: int, node_id: str, token: str, children: list[Child], output: bytes | None) -> list[int]:
    """Record ``node_id`` done (storing ``output`` if given); one outcome per child, or
    ``[UPLOAD_FIRST]`` when the output must be attached (nothing was changed then)."""
    args: list = [keys.run_prefix(run_id), node_id, token, int(settings.SLAFLOW_RUN_TTL_S),
                  "1" if output is not None else "0", output if output is not None else b"", len(children)]
    for child in children:
        args.extend([child.node_id, child.needed, child.mode])
    return [int(x) for x in _script("finish", _FINISH)(keys=[], args=args)]


def mark_dispatched(run_id: int, children: list[str], token: str) -> None:
    """After sending their branch: these children are never dispatched again."""
    if children:
        get_redis().hset(keys.taken(run_id), mapping={c: f"d:{token}" for c in children})


def taken_by(run_id: int, node_id: str) -> str | None:
    raw = get_redis().hget(keys.taken(run_id), node_id)
    return raw.decode() if raw else None


def stop_waiting(run_id: int, child: str, token: str) -> bool:
    """Withdraw as the child's waiter; False means it was already handed to us."""
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
