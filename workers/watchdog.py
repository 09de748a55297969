"""Runs that can no longer finish are failed with a clear error, never left running.

A run lives in two places: Postgres says it is running, Redis holds what its
branches need (metadata, counters, the set of live branches). Two things can
break that without any process dying:

* **lost** — the run's metadata is gone from Redis: Redis restarted without
  persistence (or was flushed, or evicted keys). Nothing of the run can be
  read any more, and its queued messages went with it.
* **stalled** — no branch is live and the result was never produced: a
  counter update was lost (Redis restarted from an append-only file that
  missed its last second), so a task never became ready. While a run is
  healthy its live set is never empty before its sink is done: a branch adds
  the branches it dispatches before it leaves (``dataplane.add_live``), and
  the submission writes the roots before the run is committed as running.

Every worker's reaper thread looks every ``SLAFLOW_WATCHDOG_EVERY_S`` seconds (5) at
the runs Postgres says are running (started at least ``SLAFLOW_WATCHDOG_GRACE_S``, 10,
ago) and fails a run only when two looks in a row gave the same verdict, so a run is
settled within about twice the interval of breaking. A run whose sink is done but
which nobody finalized (the last branch's end was lost) is finalized.
Failing is a guarded transition: several reapers deciding at once fail a
run once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from store import dataplane, keys
from store.redis_client import get_redis

log = logging.getLogger("slaflow.watchdog")

MAX_RUNS = 500

LOST, STALLED, UNFINALIZED = "lost", "stalled", "unfinalized"
MESSAGES = {
    LOST: "the run's state in Redis is gone (Redis restarted without persistence, or its keys were flushed "
    "or evicted): it cannot complete. Configure Redis with an append-only file (README 'Running on many "
    "hosts') and submit it again",
    STALLED: "the run stalled: no branch is running and its result was never produced (a Redis restart lost "
    "its last writes, so a task never became ready). Submit it again",
}


@dataclass(frozen=True)
class Look:
    """What Redis holds of one run."""

    has_meta: bool
    live: int
    sink_done: bool
    over: bool
    finalized: bool


def verdict(look: Look) -> str | None:
    """What is wrong with a run Postgres says is running, or None when it can still finish.

    >>> verdict(Look(has_meta=False, live=2, sink_done=False, over=False, finalized=False))
    'lost'
    >>> verdict(Look(has_meta=True, live=0, sink_done=False, over=False, finalized=False))
    'stalled'
    >>> verdict(Look(has_meta=True, live=1, sink_done=False, over=False, finalized=False)) is None
    True
    """
    if not look.has_meta:
        return LOST
    if look.live or look.over:
        return None  # branches still run; a failed or cancelled run is settled by its last branch
    if look.sink_done:
        return None if look.finalized else UNFINALIZED
    return STALLED


def look(run_ids: list[int]) -> dict[int, Look]:
    pipe = get_redis().pipeline(transaction=False)
    for run_id in run_ids:
        pipe.exists(keys.meta(run_id))
        pipe.scard(keys.live(run_id))
        pipe.exists(keys.sink_done(run_id))
        pipe.exists(keys.over(run_id))
        pipe.exists(keys.finalized(run_id))
    raw = pipe.execute()
    return {
        run_id: Look(
            bool(raw[5 * i]), int(raw[5 * i + 1]), bool(raw[5 * i + 2]), bool(raw[5 * i + 3]), bool(raw[5 * i + 4])
        )
        for i, run_id in enumerate(run_ids)
    }


class Watchdog:
    """One per reaper thread: remembers the previous look's verdicts."""

    def __init__(self):
        self.suspects: dict[int, str] = {}
        self.next_at = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def watch(self, now: float | None = None) -> list[tuple[int, str]]:
        """One look; returns the runs acted on and why."""
        from django.conf import settings
        from django.utils import timezone

        from orchestrator.core.states import RunStatus
        from orchestrator.models import WorkflowRun

        now = time.time() if now is None else now
        self.next_at = now + float(settings.SLAFLOW_WATCHDOG_EVERY_S)
        started_before = timezone.now() - timezone.timedelta(seconds=float(settings.SLAFLOW_WATCHDOG_GRACE_S))
        run_ids = list(
            WorkflowRun.objects.filter(status=RunStatus.RUNNING, started_at__lt=started_before)
            .order_by("id")
            .values_list("id", flat=True)[:MAX_RUNS]
        )
        found = {run_id: verdict(v) for run_id, v in look(run_ids).items()} if run_ids else {}
        confirmed = [(r, v) for r, v in found.items() if v is not None and self.suspects.get(r) == v]
        self.suspects = {r: v for r, v in found.items() if v is not None}
        for run_id, why in confirmed:
            settle(run_id, why)
            self.suspects.pop(run_id, None)
        return confirmed


def settle(run_id: int, why: str) -> None:
    from workers import ledger

    if why == UNFINALIZED:
        if dataplane.claim_finalize_if_idle(run_id):
            log.warning("run %s: its result was stored but nobody finalized it: finalizing", run_id)
            ledger.finalize_run(run_id)
        return
    if ledger.fail_run(run_id, node_id="", traceback="", error=MESSAGES[why]):
        log.error("run %s failed: %s", run_id, MESSAGES[why])
        if dataplane.claim_finalize_if_idle(run_id):
            ledger.finalize_run(run_id)
