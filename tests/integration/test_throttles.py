"""Throttles against the real shared cache (Redis): a forged X-Forwarded-For buys no fresh bucket, and every
login — the token exchange and the three login forms — is refused after SLAFLOW_LOGIN_RATE attempts per
username and per address (issue 23, row 5)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.apiutil import client_for

pytestmark = [pytest.mark.integration]

LOGIN_FORMS = ("/accounts/login/", "/admin/login/", "/api/session/login/")
TOKEN = "/api/auth/token/"


@pytest.fixture(autouse=True)
def fresh_throttles(redis_server):
    """Throttle histories live in the shared Redis cache; start each test without any."""
    from store import keys

    for key in redis_server.scan_iter(match=keys.CACHE_PREFIX + ":*"):
        redis_server.delete(key)


def _attempt(path: str, username: str, *, addr: str = "198.51.100.7", forwarded: str | None = None):
    extra = {"REMOTE_ADDR": addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    body = {"username": username, "password": "wrong-password"}
    if path == TOKEN:
        return Client().post(path, body, content_type="application/json", **extra)
    return Client().post(path, body, **extra)


def _assert_refused(resp, form: bool) -> None:
    assert resp.status_code == 429, resp.content[:300]
    assert int(resp["Retry-After"]) >= 1
    if form:
        assert "Too many sign-in attempts" in resp.content.decode()


def test_a_rotating_x_forwarded_for_gets_no_fresh_bucket(db, settings):
    """The attack: one client, a new X-Forwarded-For per request. Without a configured proxy the header is
    ignored, so every attempt lands in the client's one address bucket."""
    settings.SLAFLOW_LOGIN_RATE = "3/minute"
    for i in range(3):
        resp = _attempt(TOKEN, f"guess-{i}", forwarded=f"203.0.113.{i}")
        assert resp.status_code == 400, resp.content  # wrong credentials, but tried
    _assert_refused(_attempt(TOKEN, "guess-9", forwarded="203.0.113.99"), form=False)


def test_behind_a_configured_proxy_the_client_cannot_pick_its_address(db, settings):
    """With SLAFLOW_NUM_PROXIES=1 the address is the one the proxy appended (the last entry); a client's own
    entries to the left of it change nothing, while another real client has its own bucket."""
    settings.SLAFLOW_LOGIN_RATE = "2/minute"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    for i in range(2):
        assert _attempt(TOKEN, f"p-{i}", addr=proxy, forwarded=f"203.0.113.{i}, 192.0.2.50").status_code == 400
    _assert_refused(_attempt(TOKEN, "p-9", addr=proxy, forwarded="203.0.113.77, 192.0.2.50"), form=False)
    assert _attempt(TOKEN, "p-10", addr=proxy, forwarded="192.0.2.51").status_code == 400  # another client


@pytest.mark.parametrize("path", LOGIN_FORMS + (TOKEN,))
def test_the_n_plus_1th_attempt_on_one_username_is_refused_from_any_address(db, settings, path):
    settings.SLAFLOW_LOGIN_RATE = "3/minute"
    for i in range(3):
        resp = _attempt(path, "victim", addr=f"198.51.100.{10 + i}")
        assert resp.status_code in (200, 400), resp.content[:300]  # the form again / 400: wrong password
    _assert_refused(_attempt(path, "Victim", addr="198.51.100.99"), form=path != TOKEN)  # case does not help
    assert _attempt(path, "someone-else", addr="198.51.100.99").status_code in (200, 400)


@pytest.mark.parametrize("path", LOGIN_FORMS + (TOKEN,))
def test_the_n_plus_1th_attempt_from_one_address_is_refused_for_any_username(db, settings, path):
    settings.SLAFLOW_LOGIN_RATE = "3/minute"
    for i in range(3):
        assert _attempt(path, f"user-{i}").status_code in (200, 400)
    _assert_refused(_attempt(path, "user-new"), form=path != TOKEN)


def test_a_login_under_the_limit_still_signs_in(db, settings):
    settings.SLAFLOW_LOGIN_RATE = "3/minute"
    get_user_model().objects.create_user("carol", password="pw-carol-123")
    client = Client()
    resp = client.post(
        "/accounts/login/", {"username": "carol", "password": "pw-carol-123"}, REMOTE_ADDR="198.51.100.7"
    )
    assert resp.status_code == 302 and client.get("/").status_code == 200


def test_submissions_count_against_the_user_not_the_address(db, settings):
    """A token user changing its (forged) address keeps its one submission bucket."""
    settings.SLAFLOW_API_SUBMIT_RATE = "1/minute"
    api = client_for("throttle-user")
    first = api.post("/api/runs/", {"workflow": "diamond"}, format="json", REMOTE_ADDR="198.51.100.1")
    assert first.status_code == 201, first.content
    again = api.post(
        "/api/runs/",
        {"workflow": "diamond"},
        format="json",
        REMOTE_ADDR="198.51.100.2",
        HTTP_X_FORWARDED_FOR="203.0.113.5",
    )
    assert again.status_code == 429 and int(again["Retry-After"]) >= 1
