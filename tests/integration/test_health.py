"""/healthz against the real database, Redis and the test cluster's workers: staff get a fresh full report, other
token holders the full shared report, anonymous callers only its status (issue 23, row 9)."""

import socket

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from orchestrator.core import envconfig
from store import keys, redis_client
from tests.apiutil import client_for

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def no_cached_report(redis_server):
    cache.delete(keys.HEALTH_CACHE_KEY)
    yield
    cache.delete(keys.HEALTH_CACHE_KEY)


@pytest.fixture
def staff(db):
    user = get_user_model().objects.create_user("health-staff", password="pw-health-123", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_healthz_reports_database_redis_and_the_workers_serving_every_queue(live, staff):
    resp = staff.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok", body
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["ok"] and body["workers"]["seen"] >= 3 and body["workers"]["missing_queues"] == []
    assert set(body["workers"]["queues"]) == {"rc-512", "rc-1024", "rc-2048"}
    assert all(n >= 1 for n in body["workers"]["queues"].values())
    assert staff.get("/healthz?require=workers").status_code == 200


def test_anonymous_callers_share_one_cached_check_and_see_only_its_status(live, client, staff, settings):
    settings.SLAFLOW_HEALTH_CACHE_S = 300
    first = client.get("/healthz")
    assert first.status_code == 200 and first.json() == {"status": "ok"}  # no vendor, queues or errors
    checked_at = cache.get(keys.HEALTH_CACHE_KEY)["checked_at"]

    settings.SLAFLOW_RESOURCE_CONFIGS = (512, 1024, 2048, 3000)  # nobody serves rc-3000: a new check would see it
    again = client.get("/healthz?require=workers")
    assert again.status_code == 200 and again.json() == {"status": "ok"}  # the first check's answer
    assert cache.get(keys.HEALTH_CACHE_KEY)["checked_at"] == checked_at  # no second check

    fresh = staff.get("/healthz").json()  # staff: a check of their own, in full
    assert fresh["status"] == "degraded" and fresh["workers"]["missing_queues"] == ["rc-3000"]
    # Any API user sees the details, but of the shared report: a fresh check per request (a 1 s broadcast
    # holding a web worker; gunicorn runs 2) let one ordinary user occupy the web tier and fail its probes.
    token = client_for("health-token-user").token
    for _ in range(3):
        by_token = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {token}").json()
        assert by_token["workers"]["missing_queues"] == [] and "database" in by_token
        assert by_token["checked_at"] == checked_at
    staff_token = client_for("health-staff-token", staff=True).token
    by_staff_token = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {staff_token}").json()
    assert by_staff_token["workers"]["missing_queues"] == ["rc-3000"]  # staff: a check of their own
    forged = client.get("/healthz", HTTP_AUTHORIZATION="Token not-a-token")
    assert forged.json() == {"status": "ok"}  # an invalid token is anonymous

    cache.delete(keys.HEALTH_CACHE_KEY)  # the cached report expired
    late = client.get("/healthz?require=workers")
    assert late.status_code == 503 and late.json() == {"status": "degraded"}
    assert cache.get(keys.HEALTH_CACHE_KEY)["checked_at"] > checked_at


def test_healthz_is_degraded_without_a_worker_for_a_queue(live, client, staff, settings):
    settings.SLAFLOW_RESOURCE_CONFIGS = (512, 1024, 2048, 3000)  # nobody serves rc-3000
    body = staff.get("/healthz").json()
    assert body["status"] == "degraded" and body["workers"]["missing_queues"] == ["rc-3000"]
    assert client.get("/healthz").status_code == 200  # the web itself is fine
    assert client.get("/healthz?require=workers").status_code == 503
    assert staff.get("/healthz?require=workers").status_code == 503


def test_healthz_is_down_when_redis_does_not_answer(db, client, staff, settings):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = envconfig.redis_target(f"redis://127.0.0.1:{port}/0")
    settings.REDIS = dead
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": dead.client_url}}
    redis_client.reset()
    try:
        resp = staff.get("/healthz")
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "down" and body["database"]["ok"] and not body["redis"]["ok"]
        assert "Connection" in body["redis"]["error"] or "refused" in body["redis"]["error"]
        assert body["workers"] == {"ok": False, "error": "no Redis"}
        anonymous = client.get("/healthz")  # no cache either: a check of its own, still without details
        assert anonymous.status_code == 503 and anonymous.json() == {"status": "down"}
    finally:
        redis_client.reset()  # the next user connects to the test Redis again
