"""Pub/sub channels are global to a Redis server: each deployment's carry its database."""

from orchestrator.core import envconfig
from store import keys


def test_redis_db_of_each_url_dialect():
    assert keys.redis_db("redis://127.0.0.1:6379/5") == 5
    assert keys.redis_db("redis://127.0.0.1:6379") == 0
    assert keys.redis_db("unix:///tmp/r.sock?db=13") == 13


def test_two_databases_on_one_server_never_share_a_channel(settings):
    settings.REDIS = envconfig.redis_target("redis://127.0.0.1:6379/0")
    flags_a, events_a = keys.flags_channel(), keys.events(42)
    settings.REDIS = envconfig.redis_target("redis://127.0.0.1:6379/0", db=13)
    assert keys.flags_channel() != flags_a and keys.events(42) != events_a
    assert keys.flags_channel() == "sf:db13:flags" and keys.events(42) == "sf:db13:run:42:events"
