"""orchestrator.core.once: task code asks the core whether it is first; the answer lives in the store."""

import uuid

from orchestrator.core import once
from store import keys


def test_a_name_is_first_exactly_once_and_expires_with_its_ttl(redis_server):
    name = f"test:{uuid.uuid4().hex}"
    assert [once.first(name, ttl_s=30) for _ in range(3)] == [True, False, False]
    assert 0 < redis_server.ttl(keys.once(name)) <= 30
    assert once.first(f"{name}:other", ttl_s=30) is True  # names are independent


def test_the_straggler_is_slow_on_its_first_execution_only(redis_server):
    from slaflow.workflows import straggler

    token = uuid.uuid4().hex
    assert [straggler._straggles(token, 1, chance=1.0) for _ in range(2)] == [True, False]
    assert straggler._straggles(uuid.uuid4().hex, 1, chance=0.0) is False  # never drawn: nothing claimed
