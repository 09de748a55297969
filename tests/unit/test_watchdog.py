"""workers.watchdog's verdicts and the back-off budget of the Redis client (pure)."""

import pytest

from store import redis_client
from workers.watchdog import LOST, STALLED, UNFINALIZED, Look, verdict


@pytest.mark.parametrize(
    "look, expected",
    [
        (Look(has_meta=False, live=3, sink_done=False, over=False, finalized=False), LOST),
        (Look(has_meta=True, live=0, sink_done=False, over=False, finalized=False), STALLED),
        (Look(has_meta=True, live=2, sink_done=False, over=False, finalized=False), None),
        (Look(has_meta=True, live=0, sink_done=False, over=True, finalized=False), None),  # settled by its last branch
        (Look(has_meta=True, live=0, sink_done=True, over=False, finalized=False), UNFINALIZED),
        (Look(has_meta=True, live=0, sink_done=True, over=False, finalized=True), None),
    ],
)
def test_verdicts(look, expected):
    assert verdict(look) == expected


def test_only_worker_processes_ride_out_a_long_redis_outage(settings, monkeypatch):
    """A web request answers 503 at once when Redis is down; a worker waits out a restart."""
    monkeypatch.setattr(redis_client, "_budget_s", redis_client.REQUEST_BUDGET_S)
    settings.SLAFLOW_REDIS_RETRY_S = 30.0
    assert redis_client.retry_policy().get_retries() == redis_client.retries_within(1.0) == 4
    redis_client.use_worker_budget()
    assert redis_client.retry_policy().get_retries() == redis_client.retries_within(30.0)


def test_redis_retries_fill_the_budget_with_capped_back_off():
    assert redis_client.retries_within(0) == 0
    # 0.05 + 0.1 + 0.2 + 0.4 = 0.75 s fit in 1 s, the next 0.8 s does not
    assert redis_client.retries_within(1.0) == 4
    # then 1 s steps: 0.75 + 0.8 + 28 × 1 ≤ 30
    assert redis_client.retries_within(30.0) == 4 + 1 + 28
