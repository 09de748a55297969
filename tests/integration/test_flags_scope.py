"""Run flags travel over Redis pub/sub, which ignores database numbers: they must stay in their DB."""

import pytest

from store import flags, keys
from store.redis_client import get_redis
from tests.waiting import until

pytestmark = [pytest.mark.integration]


def test_a_run_over_in_another_redis_database_is_not_heard_here(redis_server):
    """Run ids restart in every Postgres database: another deployment's run 987654 (on another Redis
    DB of the same server, or one on the unscoped channel of older versions) is not this one's."""
    watcher = flags.watcher()
    until(watcher.subscribed.is_set, timeout_s=10, what="the flags listener to subscribe")
    from django.conf import settings

    db = keys.redis_db(settings.REDIS.client_url)
    ours = keys.flags_channel()
    assert ours == f"sf:db{db}:flags"
    client = get_redis()
    client.publish(ours.replace(f":db{db}:", f":db{db + 1}:"), "over 987654 failed")
    client.publish("sf:flags", "over 987654 failed")
    client.publish(ours, "over 987655 cancelled")  # published last: once it is heard, the others would have been
    until(lambda: flags.announced_over(987655), timeout_s=10, what="our own announcement")
    assert not flags.announced_over(987654)
