"""/healthz against the real database, Redis and the test cluster's workers."""
import pytest

pytestmark = [pytest.mark.integration]


def test_healthz_reports_database_redis_and_the_workers_serving_every_queue(live, client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok", body
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["ok"] and body["workers"]["seen"] >= 3 and body["workers"]["missing_queues"] == []
    assert set(body["workers"]["queues"]) == {"rc-512", "rc-1024", "rc-2048"}
    assert all(n >= 1 for n in body["workers"]["queues"].values())
    assert client.get("/healthz?require=workers").status_code == 200


def test_healthz_is_degraded_without_a_worker_for_a_queue(live, client, settings):
    settings.SLAFLOW_RESOURCE_CONFIGS = (512, 1024, 2048, 3000)  # nobody serves rc-3000
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["workers"]["missing_queues"] == ["rc-3000"]
    assert client.get("/healthz").status_code == 200  # the web itself is fine
    assert client.get("/healthz?require=workers").status_code == 503


def test_healthz_is_down_when_redis_does_not_answer(db, client, dead_redis):
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "down" and body["database"]["ok"] and not body["redis"]["ok"]
    assert "Connection" in body["redis"]["error"] or "refused" in body["redis"]["error"]
    assert body["workers"] == {"ok": False, "error": "no Redis"}
