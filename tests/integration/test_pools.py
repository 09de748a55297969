"""Pool sizes the workers publish, as the planner reads them (real Redis)."""
import json
import time

import pytest

from workers import keys
from workers.pools import read_capacity, read_pools
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


def test_the_capacity_counts_each_live_host_once_with_each_configuration_quota(redis_server):
    client = get_redis()
    client.delete(keys.pools())
    now = time.time()
    for name, host, mb, cores, ago in (("a", "h1", 512, 2.0, 1.0), ("b", "h1", 2048, 2.0, 1.0),
                                       ("c", "h2", 512, 4.0, 2.0), ("d", "h3", 1024, 8.0, 30.0)):
        client.hset(keys.pools(), name, json.dumps({"memory_mb": mb, "processes": 1, "keepalive_s": 7.0,
                                                    "at": now - ago, "host": host, "cores": cores,
                                                    "cpus": round(mb / 1792, 2)}))
    cap = read_capacity(now)
    assert cap.cores == 6.0 and cap.hosts == ("h1", "h2")  # h3 is stale
    assert cap.quotas == {512: 0.29, 2048: 1.14}
    client.hset(keys.pools(), "old", json.dumps({"memory_mb": 512, "processes": 1, "keepalive_s": 7.0, "at": now}))
    assert read_capacity(now).cores == 6.0  # a worker that does not say its cores adds none
    client.delete(keys.pools())
    assert read_capacity(now).cores is None
