"""The run's result: handed to its readers from the output store, then made durable.

The sink's value is the run's result, and its durable copy is a row in Postgres
(``ledger.store_result``). Writing a big one there takes long (a 32 MB array:
0.15-0.8 s on a loaded 2-core machine, against ~20 ms into host shared
memory), so a result of ``SLAFLOW_RESULT_PUBLISH_MIN_BYTES`` (128 KiB) and up that
the output store keeps out of Redis (host shared memory, or the object store) is
first written once into the output store and published there (``dataplane.publish_result``): a client on this host
waiting for it maps it at once (``RunHandle.result``) while the branch writes
the durable copy. The sink is done — the run's makespan ends — when readers can
have the result; the run is finalized (reported succeeded, its files in shared
memory removed) only after the durable copy exists, because the branch ends
only then. Should the worker or its host die in between, the delivery is taken
over and the sink runs again, publishing and storing its result anew: nothing
the published copy was the only one of outlives the run's success.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from orchestrator.dbretry import retrying
from store import dataplane, fencing
from workers import ledger


@dataclass(frozen=True)
class Delivered:
    available_at: float  # epoch seconds from which readers could have the result
    available_s: float  # seconds until then (publishing, or the durable copy for a small result)
    durable_s: float  # seconds the durable copy took
    published: bool  # read from the output store until the durable copy exists


def deliver(run_id: int, node_id: str, data: Any, value: Any, fence: fencing.Fence | None) -> Delivered:
    """Publish the sink ``node_id``'s result (``data``, encoding ``value``: ``bytes`` or a ``codec.Encoded``,
    whose parts both copies are written from, never joined) when it is big, then write its durable copy;
    every write only while ``fence`` is current."""
    t0 = time.perf_counter()
    # The durable store refuses a result over the limit (the task fails): such a one is never handed out.
    published = bool(
        0 < int(settings.SLAFLOW_RESULT_PUBLISH_MIN_BYTES) <= len(data) <= int(settings.SLAFLOW_MAX_RESULT_BYTES)
        and dataplane.publish_result(run_id, node_id, data, fence=fence)  # fenced: refused once taken over
    )
    available_at, t1 = time.time(), time.perf_counter()
    if not published:
        fencing.check(fence)  # right before the database write (published: the publication just was)
    retrying(lambda: ledger.store_result(run_id, data, value), "storing the result")
    t2 = time.perf_counter()
    if published:
        return Delivered(available_at, t1 - t0, t2 - t1, True)
    return Delivered(time.time(), t2 - t0, t2 - t1, False)
