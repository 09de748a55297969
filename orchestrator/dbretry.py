"""Riding out a database restart: a call that lost its connection is made again on a new one.

Postgres restarting (a fail-over, an upgrade, a crash) breaks every open
connection; Django only notices when the next query fails. Workers and
clients that wait on runs call the database at moments nobody chooses, so
each such call goes through ``retrying``: on a connection error it closes
the broken connection and tries again with back-off (50 ms doubling to 1 s)
for up to ``SLAFLOW_DB_RETRY_S`` seconds, then raises. Never inside a
transaction (the work done in it is gone with the connection: the caller's
whole transaction must be retried, so the error goes up at once).

The calls retried are idempotent: guarded state transitions, updates of the
same rows to the same values, a result stored after deleting the previous one.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger("slaflow.db")
T = TypeVar("T")
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.05, 1.0


def retrying(call: Callable[[], T], what: str = "database call", budget_s: float | None = None) -> T:
    budget = float(settings.SLAFLOW_DB_RETRY_S if budget_s is None else budget_s)
    deadline = time.monotonic() + budget
    delay, failures = BACKOFF_BASE_S, 0
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            failures += 1
            if failures == 1:
                log.warning(
                    "%s: the database connection failed (%s); trying again for up to %.0f s",
                    what,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    budget,
                )
            connection.close()
            time.sleep(delay)
            delay = min(BACKOFF_CAP_S, delay * 2)
