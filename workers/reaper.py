"""Taking over the branches of dead workers, and failing runs past their deadline — in seconds.

Every worker's main process runs one reaper thread (started at ``worker_ready``).
Once a second it reads the global lease index (``keys.lease_index()``: each
running branch's lease expiry, refreshed by its heartbeat) for leases that
lapsed more than a grace ago (``lease.takeover_after_s``: a holder that only
stalled takes its lease back meanwhile): their holder died — a pool process
killed, or a whole worker with its pool (``kill -9`` of its process group) — without ending the branch. One
reaper (an atomic script decides which) sends the branch's message again, with
the same id and arguments (``keys.branches``); the new delivery takes the
lease, re-runs what the dead process had not finished, and readiness stays
exactly-once. The broker's own redelivery of the lost message (after its
visibility timeout) later finds the branch ended and is dropped.

Each pass also says that this worker's host is alive (``store.locations.beat``): a
host none of whose workers beats any more, and whose data server cannot be reached,
is dead to readers of its outputs, which recompute them (``workers.lineage``).

And it launches more executors for running runs whose ready tasks wait while more processes serve
their configuration than executors pop for them — a host joined (``workers.topup``).

It also fails runs whose deadline (``deadline_s`` at submission) passed, and
every few seconds runs the watchdog (``workers.watchdog``): a run whose state
Redis lost, or that stalled, is failed with a clear error instead of hanging;
and re-predicts running runs' completion against their promise, firing the SLA
alerts (``orchestrator.services.alerts``, through ``workers.ledger``): off the branch runtime's path.
"""

from __future__ import annotations

import logging
import threading
import time

from store import dataplane, keys, lease
from store.redis_client import get_redis, script as _script
from workers import topup
from workers.watchdog import Watchdog

log = logging.getLogger("slaflow.reaper")

_CLAIM = """
-- KEYS: lease, live, over, lease index   ARGV: member, token
if redis.call('EXISTS', KEYS[1]) == 1 then return 'alive' end
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 or redis.call('EXISTS', KEYS[3]) == 1 then return 'gone' end
return 'resend'
"""


def sweep(now: float | None = None) -> list[str]:
    """One pass; returns the branches sent again (as "run|token")."""
    client = get_redis()
    now = time.time() if now is None else now
    resent = []
    # A lease lapsed a moment ago may be a live holder that stalled (with Redis, or the machine): it takes
    # its lease back at its next beat (``store.lease``). Only one silent past the grace is sent again.
    for raw in client.zrangebyscore(keys.lease_index(), 0, now - lease.takeover_after_s(), start=0, num=200):
        member = raw.decode()
        run, _, token = member.partition("|")
        run_id = int(run)
        verdict = _script("reap_claim", _CLAIM)(
            keys=[keys.lease(run_id, token), keys.live(run_id), keys.over(run_id), keys.lease_index()],
            args=[member, token],
        ).decode()
        if verdict == "resend" and _resend(run_id, token):
            resent.append(member)
    for raw in client.zrangebyscore(keys.deadlines(), 0, now, start=0, num=100):
        client.zrem(keys.deadlines(), raw)
        _expire(int(raw))
    _watch(now)
    return resent


def _watch(now: float) -> None:
    """Live tracking of running runs against their promise (``workers.ledger``: ``services.alerts``)."""
    from workers import ledger

    try:
        ledger.track_runs(now)
    except Exception:  # one bad run must not stop the takeovers above on the next pass
        log.exception("live tracking pass failed")


def _resend(run_id: int, token: str) -> bool:
    from workers import canvas, transport

    args = dataplane.branch_args(run_id, token)
    if args is None:
        log.error("run %s: branch %s lost its worker, but how to send it again was not recorded", run_id, token)
        return False
    if args.get("w"):
        sig = canvas.branch_signature(run_id, args["e"], worker=args["w"], memory_mb=args["m"])
        sig.set(task_id=token)
    else:
        sig = canvas.executor_signature(run_id, token, args["m"])
    transport.send([sig])
    log.warning("run %s: branch %s lost its worker (lease lapsed): sent it again to %s MB", run_id, token, args["m"])
    return True


def _expire(run_id: int) -> None:
    from orchestrator.models import WorkflowRun
    from workers import ledger

    run = WorkflowRun.objects.filter(pk=run_id).only("status", "deadline_s").first()
    if run is None or run.is_finished:
        return
    error = f"the run exceeded its deadline of {run.deadline_s:g} s"
    if ledger.fail_run(run_id, node_id="", traceback="", error=error):
        log.warning("run %s failed: deadline of %s s passed", run_id, run.deadline_s)
        if dataplane.claim_finalize_if_idle(run_id):
            ledger.finalize_run(run_id)


class Reaper(threading.Thread):
    def __init__(self, interval_s: float = 1.0):
        super().__init__(name="slaflow-reaper", daemon=True)
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self.watchdog = Watchdog()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            try:
                _beat()
                sweep()
                topup.sweep()  # executors for processes that joined (a new host) while runs wait for them
                if self.watchdog.due(time.time()):
                    self.watchdog.watch()
            except Exception:  # Redis or the database away for a moment: the next pass tries again
                log.exception("reaper pass failed")
                _close_database_connection()


def _beat() -> None:
    """This worker's host is alive (``store.locations``: with an unreachable data server, a host that
    stops beating is declared dead and its outputs recomputed)."""
    from store import locations, tiers

    locations.beat(tiers.host_id())


def _close_database_connection() -> None:
    """A connection broken by a database restart is dropped, so the next pass connects anew."""
    from django.db import connection

    try:
        connection.close()
    except Exception:  # already unusable: closing it is all that was wanted
        pass


_reaper: Reaper | None = None


def start() -> Reaper:
    global _reaper
    if _reaper is None or not _reaper.is_alive():
        _reaper = Reaper()
        _reaper.start()
    return _reaper
