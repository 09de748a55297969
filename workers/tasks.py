"""Celery tasks: thin — each hands its message's arguments to a runtime function.

``run_branch`` is the only task that runs workflow code (``workers.delivery.start_branch``: lease,
context, stages, records, end). ``prewarm`` is the pre-warm ping: an ordinary message that makes a
process of its queue's configuration ready for a workflow (``workers.delivery.answer_ping``). What is
Celery's stays here: the request's id and slaflow header, and retrying a branch another process holds.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from store.lease import Busy
from workers import delivery
from workers.canvas import HEADER

log = logging.getLogger("slaflow.tasks")


def _meta(request) -> dict:
    return getattr(request, HEADER, None) or (request.headers or {}).get(HEADER) or {}


@shared_task(bind=True, name="workers.tasks.run_branch", max_retries=None)
def run_branch(self, run_id: int, entries: list[str], worker: str | None = None, memory_mb: int | None = None):
    """A branch of logical worker ``worker`` starting at ``entries``, or (``worker`` None) an
    executor popping the run's ready flexible tasks on ``memory_mb``."""
    try:
        delivery.start_branch(
            run_id,
            self.request.id,
            entries,
            worker,
            memory_mb,
            _meta(self.request),
            over=getattr(self.request, "slaflow_over", False),
        )
    except Busy as busy:
        # A duplicate of a branch still running elsewhere: look again once it should have ended or died,
        # for as long as it takes (the task allows unlimited retries): giving up would consume the
        # message, and if the holder then died nothing would be left to redeliver.
        log.info("run %s: branch %s is held by %s; retrying later", run_id, self.request.id, busy)
        raise self.retry(countdown=max(1.0, settings.SLAFLOW_LEASE_S / 2))  # noqa: B904  (Celery's idiom)


@shared_task(bind=True, name="workers.tasks.prewarm")
def prewarm(self, structure_hash: str, run_id: int | None = None, target: str = ""):
    """A pre-warm ping (PreWarm): warm this process for a workflow; with a ``target``, run that branch
    if it is handed here (``delivery.answer_ping``)."""
    return delivery.answer_ping(structure_hash, run_id, target)
