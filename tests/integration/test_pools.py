"""Pool sizes the workers publish, as the planner reads them (real Redis)."""
import json
import time

import pytest

from workers import keys
from workers.pools import read_pools
from workers.redis_client import get_redis

pytestmark = [pytest.mark.integration]


def test_only_workers_that_published_recently_count_and_long_gone_ones_are_forgotten(redis_server):
    client = get_redis()
    client.delete(keys.pools())
    now = time.time()
    for name, mb, processes, ago in (("a", 512, 3, 1.0), ("b", 512, 2, 4.0), ("c", 1024, 5, 20.0),
                                     ("d", 2048, 6, 7200.0)):
        client.hset(keys.pools(), name, json.dumps({"memory_mb": mb, "processes": processes, "keepalive_s": 7.0,
                                                    "at": now - ago}))
    assert read_pools(now) == {512: 5}  # c is stale (keep-alive + margin), d long gone
    assert sorted(client.hkeys(keys.pools())) == [b"a", b"b", b"c"]
    client.delete(keys.pools())
