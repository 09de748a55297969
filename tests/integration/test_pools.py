"""Pool sizes the workers publish, as the planner reads them (real Redis)."""

import json
import time

import pytest

from store import keys
from store.pools import read_capacity, read_pools
from store.redis_client import get_redis

pytestmark = [pytest.mark.integration]


def test_only_workers_that_published_recently_count_and_long_gone_ones_are_forgotten(redis_server):
    client = get_redis()
    client.delete(keys.pools())
    now = time.time()
    for name, mb, processes, ago in (
        ("a", 512, 3, 1.0),
        ("b", 512, 2, 4.0),
        ("c", 1024, 5, 20.0),
        ("d", 2048, 6, 7200.0),
    ):
        client.hset(
            keys.pools(),
            name,
            json.dumps({"memory_mb": mb, "processes": processes, "keepalive_s": 7.0, "at": now - ago}),
        )
    assert read_pools(now) == {512: 5}  # c is stale (keep-alive + margin), d long gone
    assert sorted(client.hkeys(keys.pools())) == [b"a", b"b", b"c"]
    client.delete(keys.pools())


def test_the_capacity_counts_each_live_host_once_with_each_configuration_quota(redis_server):
    client = get_redis()
    client.delete(keys.pools())
    now = time.time()
    for name, host, mb, cores, ago in (
        ("a", "h1", 512, 2.0, 1.0),
        ("b", "h1", 2048, 2.0, 1.0),
        ("c", "h2", 512, 4.0, 2.0),
        ("d", "h3", 1024, 8.0, 30.0),
    ):
        client.hset(
            keys.pools(),
            name,
            json.dumps(
                {
                    "memory_mb": mb,
                    "processes": 1,
                    "keepalive_s": 7.0,
                    "at": now - ago,
                    "host": host,
                    "cores": cores,
                    "cpus": round(mb / 1792, 2),
                }
            ),
        )
    cap = read_capacity(now)
    assert cap.cores == 6.0 and cap.hosts == ("h1", "h2")  # h3 is stale
    assert cap.quotas == {512: 0.29, 2048: 1.14}
    client.hset(keys.pools(), "old", json.dumps({"memory_mb": 512, "processes": 1, "keepalive_s": 7.0, "at": now}))
    assert read_capacity(now).cores == 6.0  # a worker that does not say its cores adds none
    client.delete(keys.pools())
    assert read_capacity(now).cores is None


def test_work_goes_to_a_host_s_queue_only_where_a_live_worker_of_its_configuration_runs(redis_server):
    """A child of another configuration than its inputs' producer, or a host whose worker is gone: not
    sent to that host's queue (nobody would take it there)."""
    from store import pools

    client = get_redis()
    client.delete(keys.pools())
    now = time.time()
    for name, host, mb, ago in (("a", "h1", 512, 1.0), ("b", "h2", 2048, 1.0), ("c", "h2", 512, 60.0)):
        client.hset(
            keys.pools(),
            name,
            json.dumps({"memory_mb": mb, "processes": 1, "keepalive_s": 7.0, "at": now - ago, "host": host}),
        )
    later = now + pools.SERVED_TTL_S + 1  # past any reading this process cached
    assert pools.serves("h1", 512, now=later - 1e-3) is True
    assert pools.serves("h1", 2048, now=later) is False  # h1 runs no 2048 MB worker
    assert pools.serves("h2", 512, now=later) is False  # h2's 512 MB worker is stale
    assert pools.serves("h2", 2048, now=later) is True
    client.delete(keys.pools())


# Configurations the session's cluster does not serve: its workers publish theirs meanwhile.
def test_each_configuration_may_run_as_many_tasks_at_once_as_its_hosts_have_whole_cores(redis_server):
    from store import pools

    client = get_redis()
    client.delete(keys.pools())
    now = time.time()
    for name, host, mb, cores, ago in (
        ("a", "h1", 3072, 2.0, 1.0),
        ("b", "h1", 5120, 2.0, 1.0),
        ("c", "h2", 3072, 4.5, 2.0),  # a cgroup's fractional quota: its whole cores
        ("d", "h3", 6144, 0.5, 1.0),  # under one core: still one task at a time
        ("e", "h4", 6144, 8.0, 60.0),  # stale
    ):
        client.hset(
            keys.pools(),
            name,
            json.dumps(
                {"memory_mb": mb, "processes": 3, "keepalive_s": 7.0, "at": now - ago, "host": host, "cores": cores}
            ),
        )
    later = now + pools.SERVED_TTL_S + 1  # past any reading this process cached
    assert pools.core_slots(3072, now=later - 1e-3) == 6
    assert pools.core_slots(5120, now=later) == 2
    assert pools.core_slots(6144, now=later) == 1
    assert pools.core_slots(4096, now=later) is None  # nobody serves it here (e.g. Lambda's)
    client.delete(keys.pools())
    assert pools.core_slots(3072, now=later + pools.SERVED_TTL_S + 1) is None


def test_a_run_s_executors_are_capped_by_the_setting_and_by_the_cores_serving_their_configuration(
    redis_server, settings
):
    from store import pools, readiness

    client = get_redis()
    client.delete(keys.pools())
    now = time.time()
    for name, host, cores in (("a", "h1", 2.0), ("b", "h2", 2.0)):
        client.hset(
            keys.pools(),
            name,
            json.dumps({"memory_mb": 3072, "processes": 6, "keepalive_s": 7, "at": now, "host": host, "cores": cores}),
        )
    pools.core_slots(now=now + pools.SERVED_TTL_S + 1)  # a reading from the future: the next one reads again
    settings.SLAFLOW_FLEX_EXECUTORS = 6
    assert readiness.executor_cap(3072) == 4  # two hosts of two cores
    settings.SLAFLOW_FLEX_EXECUTORS = 3
    assert readiness.executor_cap(3072) == 3
    assert readiness.executor_cap(4096) == 3  # no host says: the setting alone
    client.delete(keys.pools())
