"""Deciding in Redis, atomically, which tasks are ready and who runs them.

No central loop: when a branch finishes a task it calls ``finish_task`` once.
One Lua script then, atomically: stores the output if it must travel, marks
the task done, and for every child marks the task among the child's finished
inputs (an idempotent ``HSETNX`` of ``child|task``, counted once). A child
whose inputs are all finished is *claimed* by that branch and then either

* handed to a branch of the child's own logical worker that is waiting for it
  (``HANDED``: pushed on that branch's wake list),
* kept by this branch (``LOCAL``: its own worker's child, or a flexible child
  while this branch may still take one — WUKONG's "continue with one child"),
* queued for the run's executors (``QUEUED``: a flexible child goes on its
  configuration's ready list, see below), or
* left for this branch to dispatch as a new branch of its logical worker
  (``DISPATCH``; recorded as dispatched by ``mark_dispatched`` once sent).

A child of this branch's own worker that is not ready yet is *waited for*:
the branch registers as its waiter in the same call (``WAITING``), so there is
no moment in which the last input could complete unseen.

**Executors.** Flexible tasks are not sent one Celery message each: a message
costs more than a no-op task. Ready flexible tasks go on a per-run,
per-configuration ready list, and *executors* — flexible branches — pop them
until the list is empty. The script that queues work also launches executors
(up to ``cap`` per run and configuration, counting those still popping:
``executor_cap``, no more than the cores of the hosts serving it) and
names them deterministically, so a redelivered call re-sends the same ones;
``pop`` retires an executor atomically when it finds the list empty, so queued
work is never left without one.

``taken`` records, per claimed child, ``p:`` (claimed, to dispatch), ``l:``
(run by the claimer, or popped by an executor), ``q:`` (queued), ``d:``
(dispatched) or ``h:`` (handed), each followed by a branch token. A branch
redelivered with the same token (its process died) gets its ``p:``/``l:``
children again; a ``d:`` or ``q:`` child is never sent twice.

An output goes to Redis only when some child will run outside the calling
branch. A caller may finish a task without attaching its output (the plan
says nobody elsewhere needs it, or it is large and may not be needed: a tree's
second input to finish runs the parent itself). The script then first checks,
without changing anything, whether every child would run here (or be waited
for here); if not, it answers ``UPLOAD_FIRST`` and the caller calls again with
the output. So an output is never missing when its consumer looks for it, and
never written when nobody will read it.

An attached output goes through the output store (``store.tiers``): a big one
is written to the host's shared memory and only its location is stored.

Every write is fenced when the caller gives its lease's fence (``store.fencing``).

This module is the bottom layer: it imports only keys, the Redis client, fencing and the output store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from store import fencing, keys, lua, pools, tiers
from store.redis_client import get_redis, script as _script, text

if TYPE_CHECKING:
    from orchestrator.core import codec

NOT_READY, LOCAL, DISPATCH, HANDED, WAITING, QUEUED = 0, 1, 2, 3, 4, 5
UPLOAD_FIRST = -1

# Child modes, from the finishing branch's point of view.
OWN = "own"  # same logical worker, same branch: run here, or wait for it
OWN_NEW = "own-new"  # same logical worker, but the plan starts it in a new branch: never waited for
FLEX = "flex"  # flexible: run here while this branch may take one, else queued for the executors
OTHER = "other"  # another logical worker: dispatched by whoever completes its last input

# How a claimed child was taken (``keys.taken``: one of these, then the branch token).
TAKEN_CLAIMED, TAKEN_LOCAL, TAKEN_QUEUED, TAKEN_DISPATCHED, TAKEN_HANDED = "p:", "l:", "q:", "d:", "h:"

# What an executor's pop found instead of a task: the run is over, or nothing is ready (it retired).
POP_OVER, POP_RETIRED = "over", "retired"

# The Python constants above, for the scripts below (``store.lua``: no script spells one again).
_CONSTANTS = lua.constants(
    NOT_READY=NOT_READY,
    LOCAL=LOCAL,
    DISPATCH=DISPATCH,
    HANDED=HANDED,
    WAITING=WAITING,
    QUEUED=QUEUED,
    UPLOAD_FIRST=UPLOAD_FIRST,
    MODE_OWN=OWN,
    MODE_FLEX=FLEX,
    TAKEN_CLAIMED=TAKEN_CLAIMED,
    TAKEN_LOCAL=TAKEN_LOCAL,
    TAKEN_QUEUED=TAKEN_QUEUED,
    TAKEN_HANDED=TAKEN_HANDED,
    POP_OVER=POP_OVER,
    POP_RETIRED=POP_RETIRED,
)

# Lua both scripts below share: the idempotent mark of one input of a child (counted once), and
# handing a ready child to a branch of its worker that waits for it.
_EDGE_AND_HAND = (
    _CONSTANTS
    + """
local function mark_input(p, child, node)
  if redis.call('HSETNX', K.deps(p), child .. '|' .. node, '1') == 1 then
    return redis.call('HINCRBY', K.dep_counts(p), child, 1), true
  end
  return tonumber(redis.call('HGET', K.dep_counts(p), child) or '0'), false
end
local function hand(p, child, w, ttl)
  redis.call('HDEL', K.waiters(p), child)
  redis.call('HSET', K.taken(p), child, TAKEN_HANDED .. w)
  redis.call('RPUSH', K.wake(p, w), child)
  redis.call('EXPIRE', K.wake(p, w), ttl)
end
"""
)

_TAKE = """
-- An executor's next task on configuration mb: its own host's list first, then the unplaced list,
-- then (work stealing) the other hosts' lists. Executors of even number (``...-<k>``, k = 2, 4, ...)
-- take from the lists' tails, the others from their heads: a list made in order (a level of siblings,
-- the roots of a tree) is shared out in runs of neighbours rather than dealt out one each, so siblings
-- tend to meet in one branch and the fan-in's inputs stay in memory there (Dask co-assigns root tasks
-- the same way). Every list is still drained; one executor alone takes from the head.
local function take(p, mb, host, tok)
  local k = tonumber(string.match(tok, '%-(%d+)$') or '1')
  local pop = (k % 2 == 0) and 'RPOP' or 'LPOP'
  local nxt = redis.call(pop, K.ready_on(p, mb, host))
  if nxt then return nxt end
  nxt = redis.call(pop, K.ready(p, mb))
  if nxt then return nxt end
  for _, h in ipairs(redis.call('SMEMBERS', K.ready_hosts(p, mb))) do
    if h ~= host then
      nxt = redis.call(pop, K.ready_on(p, mb, h))
      if nxt then return nxt end
    end
  end
  return false
end
"""

# finish_task's arguments: then ``n`` × (child, needed, mode, memory_mb). ``stored``: the output is
# stored ('1') or not ('0'); ``slots``: local flex slots; ``cap``: executors per configuration;
# ``xprefix``: executor token prefix; ``pop_mb``: the memory_mb an executor pops from when nothing runs
# here next ('' for none); ``channel``: the run's events channel; ``host``: this branch's host; ``made``:
# the bytes of this node's output in that host's shared memory (0: not there).
_FINISH_ARGS = (
    "p",
    "node",
    "tok",
    "ttl",
    "stored",
    "slots",
    "cap",
    "xprefix",
    "pop_mb",
    "channel",
    "host",
    "made",
    "entry",
    "n",
)

_FINISH = (
    _EDGE_AND_HAND
    + _TAKE
    + lua.argv(_FINISH_ARGS)
    + """
local stored, slots, cap, made, n = stored == '1', tonumber(slots), tonumber(cap), tonumber(made), tonumber(n)
if entry ~= '' then  -- a fenced branch's output, stored by the same (fenced) call: the first copy stands
  redis.call('HSETNX', K.outputs(p), node, entry)
  redis.call('EXPIRE', K.outputs(p), ttl)
end
local taken, waiters, claims = K.taken(p), K.waiters(p), K.claims(p)
local function arg(k, i) return ARGV[ARGV_REST + 4 * k + i] end
local near = K.near(p)
-- Where a child is best run: the host holding the most bytes of its inputs (kept as they finish).
local function note_near(child)
  local b = redis.call('HINCRBY', near, child .. '|' .. host, made)
  if b > tonumber(redis.call('HGET', near, child .. '#') or '0') then
    redis.call('HSET', near, child, host, child .. '#', b)
  end
end
if not stored then
  -- Read-only pass: would any child run outside this branch? Then it needs the output in Redis first.
  local free = slots
  for k = 0, n - 1 do
    local child, needed, mode = arg(k, 0), tonumber(arg(k, 1)), arg(k, 2)
    local count = tonumber(redis.call('HGET', K.dep_counts(p), child) or '0')
    if redis.call('HEXISTS', K.deps(p), child .. '|' .. node) == 0 then count = count + 1 end
    local w = redis.call('HGET', waiters, child)
    local here
    if count < needed then
      here = mode == MODE_OWN and ((not w) or w == tok)  -- we will wait for it (and upload if we give up)
    else
      local how = redis.call('HGET', taken, child)
      local owner = redis.call('HGET', claims, child)
      if how then
        here = how == TAKEN_LOCAL .. tok
        if here and mode == MODE_FLEX then free = free - 1 end
      elseif (owner and owner ~= tok) or (w and w ~= tok) then
        here = false
      elseif mode == MODE_OWN then
        here = true
      elseif mode == MODE_FLEX and free > 0 then
        free = free - 1
        here = true
      else
        here = false
      end
    end
    if not here then return {{UPLOAD_FIRST}, {}, {}, 0, {}} end
  end
end
local first = redis.call('SADD', K.done(p), node)  -- 0: another copy (a duplicate, a redelivery) finished it
redis.call('EXPIRE', K.done(p), ttl)
redis.call('HSET', K.states(p), node, TASK.SUCCEEDED)
redis.call('PUBLISH', channel, node)
local res = {}
local homes = {}
local queued = {}
for k = 0, n - 1 do
  local child, needed, mode, mb = arg(k, 0), tonumber(arg(k, 1)), arg(k, 2), arg(k, 3)
  local count, new = mark_input(p, child, node)
  if new and made > 0 then note_near(child) end
  local home = redis.call('HGET', near, child) or ''
  homes[k + 1] = home
  local out = NOT_READY
  if count >= needed then
    local owner = redis.call('HGET', claims, child)
    if not owner then
      redis.call('HSET', claims, child, tok)
      owner = tok
    end
    if owner == tok then
      local how = redis.call('HGET', taken, child)
      if how then
        -- redelivered claimer: its own unfinished business comes back to it
        if how == TAKEN_LOCAL .. tok then out = LOCAL
        elseif how == TAKEN_CLAIMED .. tok then out = DISPATCH
        elseif how == TAKEN_QUEUED .. tok then out = QUEUED end
        if out == LOCAL and mode == MODE_FLEX then slots = slots - 1 end
      else
        local w = redis.call('HGET', waiters, child)
        if w and w ~= tok then
          hand(p, child, w, ttl)
          out = HANDED
        else
          if w then redis.call('HDEL', waiters, child) end
          if mode == MODE_OWN or (mode == MODE_FLEX and slots > 0) then
            if mode == MODE_FLEX then slots = slots - 1 end
            redis.call('HSET', taken, child, TAKEN_LOCAL .. tok)
            out = LOCAL
          elseif mode == MODE_FLEX then
            local list = K.ready(p, mb)
            if home ~= '' then
              list = K.ready_on(p, mb, home)
              redis.call('SADD', K.ready_hosts(p, mb), home)
              redis.call('EXPIRE', K.ready_hosts(p, mb), ttl)
            end
            redis.call('RPUSH', list, child)
            redis.call('HSET', taken, child, TAKEN_QUEUED .. tok)
            queued[list] = {mb, home}
            out = QUEUED
          else
            redis.call('HSET', taken, child, TAKEN_CLAIMED .. tok)
            out = DISPATCH
          end
        end
      end
    end
  elseif mode == MODE_OWN then
    local w = redis.call('HGET', waiters, child)
    if (not w) or w == tok then
      redis.call('HSET', waiters, child, tok)
      out = WAITING
    end
  end
  res[k + 1] = out
end
for _, key in ipairs({K.deps(p), K.dep_counts(p), claims, taken, waiters, near}) do redis.call('EXPIRE', key, ttl) end
local launch = {}
local before = redis.call('HGET', K.spawned(p), node)
if before then
  launch = cjson.decode(before)
else
  local j = 0
  for ready, where in pairs(queued) do
    local mb, home = where[1], where[2]
    local execs = K.executors(p, mb)
    local want = math.min(redis.call('LLEN', ready), cap - redis.call('SCARD', execs))
    redis.call('SADD', K.registry(p), ready, execs, K.ready_hosts(p, mb))
    for i = 1, want do
      j = j + 1
      local t = xprefix .. mb .. '-' .. node .. '-' .. j
      redis.call('SADD', execs, t)
      redis.call('SADD', K.live(p), t)
      redis.call('SADD', K.registry(p), K.lease(p, t), K.held(p, t), K.wake(p, t))
      redis.call('HSET', K.branches(p), t, '{"e": [], "w": null, "m": ' .. mb .. '}')
      launch[#launch + 1] = t
      launch[#launch + 1] = mb
      launch[#launch + 1] = home
    end
    redis.call('EXPIRE', ready, ttl)
    redis.call('EXPIRE', execs, ttl)
  end
  if j > 0 then
    redis.call('HSET', K.spawned(p), node, cjson.encode(launch))
    redis.call('EXPIRE', K.spawned(p), ttl)
  end
end
-- An executor with nothing to run next takes its next task in the same call (see _POP).
local popped = {}
if pop_mb ~= '' then
  local keep = false
  for k = 1, n do if res[k] == LOCAL then keep = true end end
  if not keep then
    local execs = K.executors(p, pop_mb)
    if redis.call('EXISTS', K.over(p)) == 1 then
      popped = {'', POP_OVER}
    else
      local nxt = take(p, pop_mb, host, tok)
      if nxt then
        redis.call('SADD', execs, tok)
        redis.call('HSET', taken, nxt, TAKEN_LOCAL .. tok)
        redis.call('HSET', K.current(p), tok, nxt)
        redis.call('RPUSH', K.held(p, tok), nxt)
        redis.call('EXPIRE', K.held(p, tok), ttl)
        redis.call('HSET', K.states(p), nxt, TASK.RUNNING)
        popped = {nxt}
      else
        redis.call('SREM', execs, tok)
        popped = {'', POP_RETIRED}
      end
    end
  end
end
return {res, launch, popped, first, homes}
"""
)

_POP_KEYS = ("execs", "held", "taken", "states", "over", "current")
_POP_ARGS = ("tok", "ttl", "p", "mb", "host")
_POP = (
    _CONSTANTS
    + _TAKE
    + lua.argv(_POP_KEYS, "KEYS")
    + lua.argv(_POP_ARGS)
    + """
if redis.call('EXISTS', over) == 1 then return {'', POP_OVER} end
local child = take(p, mb, host, tok)
if not child then
  redis.call('SREM', execs, tok)
  return {}
end
redis.call('SADD', execs, tok)
redis.call('HSET', taken, child, TAKEN_LOCAL .. tok)
redis.call('RPUSH', held, child)
redis.call('EXPIRE', held, ttl)
redis.call('HSET', states, child, TASK.RUNNING)
redis.call('HSET', current, tok, child)
return {child}
"""
)

_STOP_WAITING = (
    lua.argv(("waiters",), "KEYS")
    + lua.argv(("child", "tok"))
    + """
-- 1: we withdrew; 0: it was already handed to us
if redis.call('HGET', waiters, child) == tok then
  redis.call('HDEL', waiters, child)
  return 1
end
return 0
"""
)


@dataclass(frozen=True)
class Child:
    node_id: str
    needed: int  # how many inputs it has
    mode: str  # OWN, OWN_NEW, FLEX or OTHER
    memory_mb: int = 0  # its configuration (where a queued flexible child goes)


@dataclass(frozen=True)
class Finished:
    """What ``finish_task`` decided: one outcome per child, executors to send as (token, memory_mb),
    and — for an executor that asked — the next task it popped, or that it retired (the ready list
    was empty) or that the run is over."""

    outcomes: list[int]
    executors: list[tuple[str, int, str]]  # (token, memory_mb, host whose queue it goes to, '' for any)
    popped: str | None = None
    retired: bool = False
    over: bool = False
    first: bool = True  # this call marked the task done (False: another copy had finished it)
    # child → the host holding most of its inputs' bytes (children with some in shared memory)
    homes: dict | None = None

    @property
    def upload_first(self) -> bool:
        return self.outcomes == [UPLOAD_FIRST]


def executor_prefix(run_id: int) -> str:
    """Executor tokens read ``r<run>-x<memory_mb>-<what launched it>-<k>`` (``canvas.executor_token``)."""
    return f"r{run_id}-x"


def executor_cap(memory_mb: int | None = None) -> int:
    """Executors a run may have popping on configuration ``memory_mb`` at once (None: on any): at
    most ``SLAFLOW_FLEX_EXECUTORS``, and no more than the cores of the hosts serving it
    (``core_slots``, unless ``SLAFLOW_EXECUTORS_WITHIN_CORES`` is off). CPU-bound tasks beyond the
    cores only share them: every task, those on the critical path too, runs that much slower (six
    executors on two cores stretched each task about 3x and the run's makespan with it), where Dask
    runs one task per core in its order."""
    cap = int(settings.SLAFLOW_FLEX_EXECUTORS)
    cores = core_slots(memory_mb)
    return cap if cores is None else max(1, min(cap, cores))


def core_slots(memory_mb: int | None = None) -> int | None:
    """The cores that bound a configuration's executors (``pools.core_slots``); None: unbounded by them
    (``SLAFLOW_EXECUTORS_WITHIN_CORES`` off, or no host says)."""
    return pools.core_slots(memory_mb) if settings.SLAFLOW_EXECUTORS_WITHIN_CORES else None


def finish_task(
    run_id: int,
    node_id: str,
    token: str,
    children: list[Child],
    output: "bytes | codec.Encoded | None",
    *,
    local_slots: int = 0,
    pop_from: int | None = None,
    streamed: bool = False,
    fence: fencing.Fence | None = None,
) -> Finished:
    """Record ``node_id`` done; ``local_slots``: how many ready flexible children this branch may run
    itself; ``pop_from``: an executor's configuration, to take its next task in the same call when no
    child runs here. With ``output``, it is stored first, in the same round trip (a pipelined
    ``HSET`` before the script: no copy of a large value through Lua; a fenced branch's goes through the
    script, whose fence check must come first). Without it,
    ``Finished.upload_first`` says that some child will run outside this branch and the output must
    be attached (nothing was changed) — unless ``streamed``: the output is on its way
    (``store.streams``), as good as stored for the children's sake. With ``fence``, nothing is
    written unless the branch's delivery is still current (``store.fencing``: ``Fenced``)."""
    store = tiers.local()
    # This output's bytes in this host's shared memory: its consumers are best run here.
    made = len(output) if output is not None and store.min_bytes and len(output) >= store.min_bytes else 0
    args: list = lua.pack(
        _FINISH_ARGS,
        p=keys.run_prefix(run_id),
        node=node_id,
        tok=token,
        ttl=int(settings.SLAFLOW_RUN_TTL_S),
        stored="1" if output is not None or streamed else "0",
        slots=local_slots,
        # The children queued here go to their configurations' ready lists: the smallest of their caps.
        cap=min((executor_cap(mb) for mb in {c.memory_mb for c in children if c.mode == FLEX}), default=executor_cap()),
        xprefix=executor_prefix(run_id),
        pop_mb="" if pop_from is None else int(pop_from),
        channel=keys.events(run_id),
        host=store.host,
        made=made,
        entry="" if fence is None or output is None else tiers.local().entry(run_id, node_id, output),
        n=len(children),
    )
    for child in children:
        args.extend([child.node_id, child.needed, child.mode, child.memory_mb])
    finish = _script("finish", _FINISH)
    if fence is not None:  # one script, its output in its arguments: nothing of it runs unless all of it does
        outcomes, launch, popped, first, homes = fencing.call("finish", _FINISH, keys=[], args=args, fence=fence)
    elif output is None:
        outcomes, launch, popped, first, homes = finish(keys=[], args=args)
    else:
        outcomes, launch, popped, first, homes = _stored_then(run_id, node_id, output, finish, args)
    launched = [(launch[i].decode(), int(launch[i + 1]), launch[i + 2].decode()) for i in range(0, len(launch), 3)]
    flag = popped[1].decode() if len(popped) == 2 else ""
    return Finished(
        [int(x) for x in outcomes],
        launched,
        popped=popped[0].decode() if len(popped) == 1 else None,
        retired=flag == POP_RETIRED,
        over=flag == POP_OVER,
        first=bool(first),
        homes={c.node_id: h.decode() for c, h in zip(children, homes) if h},
    )


def _stored_then(run_id: int, node_id: str, output: "bytes | codec.Encoded", script: Script, args: list) -> Any:
    """Store an output and run ``script`` after it in one round trip. The script is called by its
    SHA (redis-py would ask ``SCRIPT EXISTS`` before every pipeline that holds a Script object);
    after a Redis restart it is loaded again and the whole pipeline re-sent (the store is idempotent)."""
    client = get_redis()
    entry = tiers.local().entry(run_id, node_id, output)  # the output, or its location in shared memory
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)  # one connection runs them in order
        pipe.hsetnx(keys.outputs(run_id), node_id, entry)  # the first copy stored stands (TaskDup, redeliveries)
        pipe.expire(keys.outputs(run_id), int(settings.SLAFLOW_RUN_TTL_S))
        pipe.evalsha(script.sha, 0, *args)
        try:
            return pipe.execute()[-1]
        except NoScriptError:
            if attempt == 2:
                raise
            script.sha = client.script_load(script.script)


# release's arguments, then ``n`` × (child, needed).
_RELEASE_ARGS = ("p", "node", "tok", "ttl", "n")
_RELEASE = (
    _EDGE_AND_HAND
    + lua.argv(_RELEASE_ARGS)
    + """
-- A generator's streaming consumers, released as it starts: its edge to each counts now (the same
-- idempotent mark finish_task makes, which then counts nothing again). A child ready with it is
-- claimed to be dispatched (never run here: this branch is busy running the generator) or handed
-- to a branch of its worker that waits for it.
local n = tonumber(n)
local taken, waiters, claims = K.taken(p), K.waiters(p), K.claims(p)
local res = {}
for k = 0, n - 1 do
  local child, needed = ARGV[ARGV_REST + 2 * k], tonumber(ARGV[ARGV_REST + 1 + 2 * k])
  local count = mark_input(p, child, node)
  local out = NOT_READY
  if count >= needed and not redis.call('HGET', claims, child) then
    redis.call('HSET', claims, child, tok)
    local w = redis.call('HGET', waiters, child)
    if w and w ~= tok then
      hand(p, child, w, ttl)
      out = HANDED
    else
      redis.call('HSET', taken, child, TAKEN_CLAIMED .. tok)
      out = DISPATCH
    end
  elseif count >= needed and redis.call('HGET', claims, child) == tok then
    local how = redis.call('HGET', taken, child) or ''
    -- redelivered before it was sent: send it now
    if string.sub(how, 1, #TAKEN_CLAIMED) == TAKEN_CLAIMED then out = DISPATCH end
  end
  res[k + 1] = out
end
for _, key in ipairs({K.deps(p), K.dep_counts(p), claims, taken, waiters}) do redis.call('EXPIRE', key, ttl) end
return res
"""
)

# claim_delay's arguments, then the children.
_CLAIM_DELAY = (
    lua.argv(("delaying",), "KEYS")
    + lua.argv(("ttl", "tok"))
    + """
-- 1: this token now waits for all of them; 0: another does
for i = ARGV_REST, #ARGV do
  local w = redis.call('HGET', delaying, ARGV[i])
  if w and w ~= tok then return 0 end
end
for i = ARGV_REST, #ARGV do redis.call('HSET', delaying, ARGV[i], tok) end
redis.call('EXPIRE', delaying, ttl)
return 1
"""
)


def release(run_id: int, node_id: str, token: str, children: list[Child]) -> list[int]:
    """A generator's streaming consumers, as it starts: per child ``DISPATCH`` (claimed: send it),
    ``HANDED`` (a waiting branch of its worker got it) or ``NOT_READY`` (other inputs pending, or
    another branch has it)."""
    if not children:
        return []
    args: list = lua.pack(
        _RELEASE_ARGS,
        p=keys.run_prefix(run_id),
        node=node_id,
        tok=token,
        ttl=int(settings.SLAFLOW_RUN_TTL_S),
        n=len(children),
    )
    for child in children:
        args.extend([child.node_id, child.needed])
    return [int(x) for x in _script("release", _RELEASE)(keys=[], args=args)]


def pending(run_id: int, node_id: str, children: list[Child]) -> list[str]:
    """The children that would still lack another input once ``node_id`` counts as finished (read only)."""
    if not children:
        return []
    names = [c.node_id for c in children]
    pipe = get_redis().pipeline(transaction=False)
    pipe.hmget(keys.dep_counts(run_id), names)
    pipe.hmget(keys.deps(run_id), [f"{c}|{node_id}" for c in names])
    counts, mine = pipe.execute()
    return [c.node_id for c, n, has in zip(children, counts, mine) if int(n or 0) + (0 if has else 1) < c.needed]


def wait_ready(run_id: int, node_id: str, children: list[Child], budget_s: float, poll_s: float = 0.01) -> float:
    """Delayed I/O's wait: until no child of ``node_id`` lacks another input, or ``budget_s`` passes.
    Returns the seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + budget_s
    while pending(run_id, node_id, children) and time.monotonic() < deadline:
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    return time.monotonic() - t0


def claim_delay(run_id: int, children: list[str], token: str) -> bool:
    """Delayed I/O: ``token``'s producer is the one that waits for ``children`` (False: another already does)."""
    return bool(
        _script("claim_delay", _CLAIM_DELAY)(
            keys=[keys.delaying(run_id)], args=[int(settings.SLAFLOW_RUN_TTL_S), token, *children]
        )
    )


def queue_roots(run_id: int, roots_by_memory: dict[int, list[str]], executors: list[tuple[str, int]]) -> None:
    """At submission: flexible roots onto their ready lists, and their ``executors`` (token,
    memory_mb) counted as popping. Nothing runs yet, so a transaction suffices; the caller makes
    the tokens live."""
    if not roots_by_memory:
        return
    client = get_redis()
    pipe = client.pipeline(transaction=True)
    ttl = int(settings.SLAFLOW_RUN_TTL_S)
    for mb, roots in sorted(roots_by_memory.items()):
        ready, execs = keys.ready(run_id, mb), keys.executors(run_id, mb)
        pipe.rpush(ready, *roots)
        tokens = [t for t, m in executors if m == mb]
        if tokens:
            pipe.sadd(execs, *tokens)
        pipe.sadd(keys.registry(run_id), ready, execs)
        pipe.expire(ready, ttl)
        pipe.expire(execs, ttl)
    pipe.hset(
        keys.taken(run_id), mapping={r: TAKEN_QUEUED + "submit" for roots in roots_by_memory.values() for r in roots}
    )
    pipe.expire(keys.taken(run_id), ttl)
    pipe.execute()


def pop(run_id: int, memory_mb: int, token: str, fence: fencing.Fence | None = None) -> tuple[str | None, bool]:
    """An executor's next task: (node, False) — from its host's ready list first, then the unplaced
    one, then another host's (stealing: an idle executor never leaves work waiting); (None, False)
    when every list is empty — the executor is retired in the same step; (None, True) when the run
    is over. Fenced (``store.fencing``) with ``fence``: a delivery that was taken over pops nothing."""
    got = fencing.call(
        "pop",
        _POP,
        keys=lua.pack(
            _POP_KEYS,
            execs=keys.executors(run_id, memory_mb),
            held=keys.held(run_id, token),
            taken=keys.taken(run_id),
            states=keys.states(run_id),
            over=keys.over(run_id),
            current=keys.current(run_id),
        ),
        args=lua.pack(
            _POP_ARGS,
            tok=token,
            ttl=int(settings.SLAFLOW_RUN_TTL_S),
            p=keys.run_prefix(run_id),
            mb=int(memory_mb),
            host=tiers.host_id(),
        ),
        fence=fence,
    )
    if not got:
        return None, False
    if len(got) == 2:
        return None, True
    return text(got[0]), False


def held(run_id: int, token: str) -> list[str]:
    """The nodes an executor popped so far (what its redelivery runs again)."""
    return [text(x) for x in get_redis().lrange(keys.held(run_id, token), 0, -1)]


def mark_dispatched(run_id: int, children: list[str], token: str) -> None:
    """After sending their branch: these children are never dispatched again."""
    if children:
        get_redis().hset(keys.taken(run_id), mapping={c: TAKEN_DISPATCHED + token for c in children})


def taken_by(run_id: int, node_id: str) -> str | None:
    raw = get_redis().hget(keys.taken(run_id), node_id)
    return text(raw) if raw else None


def stop_waiting(run_id: int, child: str, token: str) -> bool:
    """Withdraw as the child's waiter; False means it was already handed to us."""
    return bool(_script("stop_waiting", _STOP_WAITING)(keys=[keys.waiters(run_id)], args=[child, token]))


def next_handed(run_id: int, token: str, timeout_s: float) -> str | None:
    """Block until a node is handed to this branch, or the timeout passes."""
    client = get_redis()
    key = keys.wake(run_id, token)
    if timeout_s <= 0:
        raw = client.lpop(key)
    else:
        item = client.blpop([key], timeout=max(timeout_s, 0.01))
        raw = item[1] if item else None
    return text(raw) if raw else None
