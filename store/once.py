"""The store behind ``orchestrator.core.once``: a name is claimed by the first ``SET NX`` of its key.

The key (``keys.once``) expires after ``ttl_s``, so names made per run (a
run's token in them) do not accumulate.
"""

from __future__ import annotations

import math

from store import keys
from store.redis_client import get_redis


def first(name: str, ttl_s: float) -> bool:
    return bool(get_redis().set(keys.once(name), 1, nx=True, ex=max(1, math.ceil(ttl_s))))
