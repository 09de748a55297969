"""Exclusive branch execution: one live holder per branch token, and liveness you can trust.

Celery delivers at least once. A duplicate of a branch that is still running
must not run beside it, and a branch whose worker died must be taken over —
in seconds, not after the broker's visibility timeout.

The holder keeps ``lease:<token>`` fresh from a heartbeat thread and, in the
same call, its expiry in the global ``keys.lease_index()``; a process that
dies stops beating, its lease lapses within ``SLAFLOW_LEASE_S``, and any
worker's reaper (``workers.reaper``) sends the branch again. A newcomer that
finds the lease held by a live process backs off (Celery retries it, without
limit), one that finds it held by a dead process on this host (or expired)
takes over, and one whose token is no longer in the run's live set (the branch
ended, or the run did) drops the message. A holder whose lease lapsed while it
was alive (Redis, or the whole machine, stalled longer than the lease) takes it
back at its next beat as long as no later delivery took the branch over — the
reaper waits ``TAKEOVER_GRACE`` leases past the expiry before it sends the
branch again, so a stalled-but-alive holder beats first. A holder whose lease
was taken over (it was frozen past lease and grace) hears it at its next beat
and stops (``lost``). A branch leaves the live set and releases its lease in one atomic
step (``dataplane.branch_end``), so there is no moment in which a duplicate
could start it again.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

from django.conf import settings

from store import keys, lua
from store.redis_client import script as redis_script

# acquire's keys and arguments: ``me`` the holder ("host:pid:nonce"), ``ttl_ms`` the lease's, ``takeover_from``
# the holder a dead process left ('' for none), ``deliveries_ttl`` s, ``member``/``expiry`` its lease index entry.
_ACQUIRE_KEYS = ("lease", "live", "deliveries", "lease_index")
_ACQUIRE_ARGS = ("me", "ttl_ms", "tok", "takeover_from", "deliveries_ttl", "member", "expiry")
_ACQUIRE = (
    lua.argv(_ACQUIRE_KEYS, "KEYS")
    + lua.argv(_ACQUIRE_ARGS)
    + """
if redis.call('SISMEMBER', live, tok) == 0 then return {'ended', ''} end
local holder = redis.call('GET', lease)
if (not holder) or (takeover_from ~= '' and holder == takeover_from) then
  local before = redis.call('HGET', deliveries, tok .. ':holder') or ''
  redis.call('SET', lease, me, 'PX', ttl_ms)
  local n = redis.call('HINCRBY', deliveries, tok, 1)
  redis.call('HSET', deliveries, tok .. ':holder', me)
  redis.call('EXPIRE', deliveries, deliveries_ttl)
  redis.call('ZADD', lease_index, expiry, member)
  return {'ok:' .. n, before}
end
return {holder, ''}
"""
)

_REFRESH_KEYS = ("lease", "lease_index", "deliveries", "live")
_REFRESH_ARGS = ("me", "ttl_ms", "member", "expiry", "tok")
_REFRESH = (
    lua.argv(_REFRESH_KEYS, "KEYS")
    + lua.argv(_REFRESH_ARGS)
    + """
-- A holder keeps its lease; one whose lease lapsed (Redis or the holder stalled past it) takes it back
-- while no later delivery took the branch over (the delivery's holder is still this one) and it is live.
local cur = redis.call('GET', lease)
if cur == me or ((not cur) and redis.call('HGET', deliveries, tok .. ':holder') == me
                 and redis.call('SISMEMBER', live, tok) == 1) then
  redis.call('SET', lease, me, 'PX', ttl_ms)
  redis.call('ZADD', lease_index, expiry, member)
  return 1
end
return 0
"""
)


# How long past a lapsed lease's expiry (in leases) the reaper waits before it sends the branch again: a
# holder beats every third of a lease, so one that is alive takes its lease back within this.
TAKEOVER_GRACE = 0.5


def takeover_after_s() -> float:
    """Seconds from a lease's expiry until its branch is sent again (``workers.reaper``)."""
    return TAKEOVER_GRACE * float(settings.SLAFLOW_LEASE_S)


class Busy(Exception):
    """Another live process holds the branch."""


class Ended(Exception):
    """The branch already ran to its end."""


def _alive_here(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # cannot tell for other hosts: trust the TTL
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def index_member(run_id: int, token: str) -> str:
    return f"{run_id}|{token}"


def holder_pid(holder: str) -> int | None:
    """The pid in a holder "host:pid:nonce" when it is on this host."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return int(pid) if host == socket.gethostname() and pid.isdigit() else None


class Lease:
    def __init__(self, run_id: int, token: str):
        self.run_id, self.token = run_id, token
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl_ms = int(float(settings.SLAFLOW_LEASE_S) * 1000)
        self.previous = ""  # the holder of the delivery before this one (a process that died), if any
        self.lost = False  # another process took the branch over: stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _keys(self):
        return lua.pack(
            _ACQUIRE_KEYS,
            lease=keys.lease(self.run_id, self.token),
            live=keys.live(self.run_id),
            deliveries=keys.deliveries(self.run_id),
            lease_index=keys.lease_index(),
        )

    def _expiry(self) -> float:
        return time.time() + self.ttl_ms / 1000

    def acquire(self) -> int:
        """Hold the branch; returns how many times it has now been taken up (1 the first time)."""
        script = redis_script("lease_acquire", _ACQUIRE)
        member = index_member(self.run_id, self.token)
        args = dict(
            me=self.me,
            ttl_ms=self.ttl_ms,
            tok=self.token,
            takeover_from="",
            deliveries_ttl=int(settings.SLAFLOW_RUN_TTL_S),
            member=member,
            expiry=self._expiry(),
        )
        got, before = (x.decode() for x in script(keys=self._keys(), args=lua.pack(_ACQUIRE_ARGS, **args)))
        if got == "ended":
            raise Ended(self.token)
        if not got.startswith("ok:") and not _alive_here(got):
            # Its process died (e.g. killed for memory): take over now rather than after the TTL.
            args.update(takeover_from=got, expiry=self._expiry())
            got, before = (x.decode() for x in script(keys=self._keys(), args=lua.pack(_ACQUIRE_ARGS, **args)))
        if not got.startswith("ok:"):
            raise Busy(got)
        self.previous = before
        self._start_heartbeat()
        return int(got[3:])

    def _start_heartbeat(self) -> None:
        script = redis_script("lease_refresh", _REFRESH)
        beat_keys = lua.pack(
            _REFRESH_KEYS,
            lease=keys.lease(self.run_id, self.token),
            lease_index=keys.lease_index(),
            deliveries=keys.deliveries(self.run_id),
            live=keys.live(self.run_id),
        )
        member = index_member(self.run_id, self.token)

        def beat():
            while not self._stop.wait(self.ttl_ms / 3000):
                try:
                    if not script(
                        keys=beat_keys,
                        args=lua.pack(
                            _REFRESH_ARGS,
                            me=self.me,
                            ttl_ms=self.ttl_ms,
                            member=member,
                            expiry=self._expiry(),
                            tok=self.token,
                        ),
                    ):
                        self.lost = True  # taken over while we were frozen (or ended): the new holder runs it
                        return
                except Exception:  # a missed beat only shortens the lease; the next one retries
                    pass

        self._thread = threading.Thread(target=beat, name=f"lease-{self.token}", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        """The lease itself is released by ``dataplane.branch_end`` together with leaving the live set."""
        self._stop.set()
