"""Exclusive branch execution: one live holder per branch token.

Celery delivers at least once. A duplicate of a branch that is still running
must not run beside it, and a branch whose worker died must be taken over.
The holder keeps ``lease:<token>`` fresh from a heartbeat thread; a newcomer
that finds it held by a live process backs off, one that finds it held by a
dead process on this host (or expired) takes over, and one whose token is no
longer in the run's live set (the branch ended, or the run did) drops the
message. A branch leaves the live set and releases its lease in one atomic step,
so there is no moment in which a duplicate could start it again.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid

from django.conf import settings

from workers import keys
from workers.redis_client import script as redis_script

_ACQUIRE = """
-- KEYS: lease, live, deliveries   ARGV: me, ttl, token, takeover_from, deliveries ttl
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return 'ended' end
local holder = redis.call('GET', KEYS[1])
if (not holder) or (ARGV[4] ~= '' and holder == ARGV[4]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local n = redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  return 'ok:' .. n
end
return holder
"""

_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


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


class Lease:
    def __init__(self, run_id: int, token: str):
        self.run_id, self.token = run_id, token
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl_ms = int(float(settings.SLAFLOW_LEASE_S) * 1000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _keys(self):
        return [keys.lease(self.run_id, self.token), keys.live(self.run_id), keys.deliveries(self.run_id)]

    def acquire(self) -> int:
        """Hold the branch; returns how many times it has now been taken up (1 the first time)."""
        script = redis_script("lease_acquire", _ACQUIRE)
        args = [self.me, self.ttl_ms, self.token, "", int(settings.SLAFLOW_RUN_TTL_S)]
        got = script(keys=self._keys(), args=args).decode()
        if got == "ended":
            raise Ended(self.token)
        if not got.startswith("ok:") and not _alive_here(got):
            # Its process died (e.g. killed for memory): take over now rather than after the TTL.
            args[3] = got
            got = script(keys=self._keys(), args=args).decode()
        if not got.startswith("ok:"):
            raise Busy(got)
        self._start_heartbeat()
        return int(got[3:])

    def _start_heartbeat(self) -> None:
        script = redis_script("lease_refresh", _REFRESH)
        lease_key = keys.lease(self.run_id, self.token)

        def beat():
            while not self._stop.wait(self.ttl_ms / 3000):
                try:
                    script(keys=[lease_key], args=[self.me, self.ttl_ms])
                except Exception:  # a missed beat only shortens the lease; the next one retries
                    pass

        self._thread = threading.Thread(target=beat, name=f"lease-{self.token}", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        """The lease itself is released by ``dataplane.branch_end`` together with leaving the live set."""
        self._stop.set()
