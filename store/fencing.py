"""Fencing by lease token: a branch whose lease was taken over can no longer write anything.

A branch's lease (``store.lease``) is taken up with ``HINCRBY deliveries <token>``: the count is the
*fencing token* of that delivery — 1 the first time, bumped by every take-over. A holder that was cut
off (its host partitioned, or frozen past its lease) keeps running its task meanwhile; when it comes
back, the branch is another delivery's. Every write a branch makes carries its ``Fence`` (run, branch
token, delivery) and is refused unless that delivery is still the branch's current one:

* Redis writes — outputs, readiness counters and claims (``readiness.finish_task``), popping a ready
  task, a task's state, the branch's end — run as Lua scripts whose first lines (``PRELUDE``) compare
  the fence with ``deliveries`` in the same atomic step, so nothing can take the branch over between
  the check and the write;
* database writes — the result of a sink, task records and the branch's start-up, failing the run —
  are made only after ``check`` found the fence current (checked right before the write; a take-over
  within that instant would leave one identical copy of a deterministic result, never a second run
  of anything downstream, which is decided in Redis).

A refused write raises ``Fenced`` (a ``StopBranch``: the branch stops, ends nothing and records
nothing) and counts in ``keys.fault_counts()`` ("<run>:fenced"): the duplicates prevented, one per
write refused (a finished task's output and its counters are one: one script, so that nothing of a
fenced finish runs unless all of it does). A run whose
state is gone (it ended and was cleaned up) fences every late writer too: a missing count is not the
writer's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from orchestrator.core.states import StopBranch
from store import keys, lua
from store.redis_client import get_redis, script as _script

log = logging.getLogger("slaflow.fencing")

FAULTS_TTL_S = 86400

# Prepended to a script: takes the fence off the end of KEYS and ARGV (the script below sees its own
# arguments unchanged), and refuses — counting it — unless the fence is the branch's current delivery.
PRELUDE = (
    lua.constants(FAULTS_TTL_S=FAULTS_TTL_S)
    + """
local _frun = table.remove(ARGV)
local _fwant = table.remove(ARGV)
local _ftok = table.remove(ARGV)
local _fcount = table.remove(KEYS)
local _fkey = table.remove(KEYS)
if redis.call('HGET', _fkey, _ftok) ~= _fwant then
  redis.call('HINCRBY', _fcount, _frun .. ':fenced', 1)
  redis.call('EXPIRE', _fcount, FAULTS_TTL_S)
  return redis.error_reply('FENCED branch ' .. _ftok .. ' delivery ' .. _fwant .. ' was taken over')
end
"""
)


class Fenced(StopBranch):
    """This delivery of the branch was taken over: it must not write anything more."""


@dataclass(frozen=True)
class Fence:
    run_id: int
    token: str
    delivery: int

    def keys(self) -> list[str]:
        return [keys.deliveries(self.run_id), keys.fault_counts()]

    def args(self) -> list:
        return [self.token, str(self.delivery), str(self.run_id)]


def _fenced(exc: ResponseError, fence: Fence) -> Fenced | None:
    if "FENCED" not in str(exc):
        return None
    log.warning(
        "run %s: branch %s delivery %s was taken over; its write was refused", fence.run_id, fence.token, fence.delivery
    )
    return Fenced(f"branch {fence.token} (delivery {fence.delivery}) was taken over by a later delivery")


def call(name: str, body: str, *, keys: list, args: list, fence: Fence | None) -> Any:
    """Run script ``body`` — fenced when ``fence`` is given (``Fenced`` when refused)."""
    if fence is None:
        return _script(name, body)(keys=keys, args=args)
    try:
        return _script("fenced-" + name, PRELUDE + body)(keys=[*keys, *fence.keys()], args=[*args, *fence.args()])
    except ResponseError as exc:
        raise (_fenced(exc, fence) or exc) from None


def check(fence: Fence | None) -> None:
    """Raise ``Fenced`` unless ``fence`` is still current (before a write outside Redis: the database)."""
    if fence is not None:
        call("check", "return 1", keys=[], args=[], fence=fence)


def current(fence: Fence | None) -> bool:
    try:
        check(fence)
        return True
    except Fenced:
        return False


def count(run_id: int, what: str, n: int = 1) -> None:
    """Count a fault of the run (``what``: "fenced", "recomputed")."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.hincrby(keys.fault_counts(), f"{run_id}:{what}", n)
    pipe.expire(keys.fault_counts(), FAULTS_TTL_S)
    pipe.execute()


def counts(run_id: int) -> dict[str, int]:
    """The run's fault counts: {"fenced": writes refused, "recomputed": outputs recomputed}."""
    raw = get_redis().hmget(keys.fault_counts(), [f"{run_id}:fenced", f"{run_id}:recomputed"])
    return {"fenced": int(raw[0] or 0), "recomputed": int(raw[1] or 0)}
