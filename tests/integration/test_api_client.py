"""orchestrator.client against a live server with real workers."""

import pytest

from orchestrator.client import ApiError, Client, NotJSONResult, RunCancelled, RunFailed, Throttled, Unavailable
from orchestrator.services.accounts import issue_token
from tests import taskfns as t
from tests.waiting import until

pytestmark = [pytest.mark.integration]


@pytest.fixture
def api(live, live_server):
    return Client(live_server.url, issue_token(username="client-user", create_user=True).key, timeout=30)


def test_client_round_trip(api, live_server):
    run = api.submit("tree_reduction", params={"n": 16}, planner="wukong", sla="p90")
    assert api.result(run["id"], timeout=120) == 120
    assert api.get(run["id"])["status"] == "succeeded"
    assert api.plan(run["id"])["planner"] == "wukong"
    assert len(api.tasks(run["id"])) == 15

    # A graph built with @task travels as a JSON spec; the workers import the functions by path.
    src = t.value(3)
    graph_run = api.submit(t.add(t.inc(src), t.inc(t.inc(src))), name="client-diamond", sla="average")
    assert api.result(graph_run["id"], timeout=60) == 4 + 5
    assert api.get(graph_run["id"])["workflow"] == "client-diamond"
    tuple_run = api.submit(t.value((1, 2)))
    assert isinstance(api.result(tuple_run["id"], timeout=60), NotJSONResult)

    assert [r["id"] for r in api.runs(workflow="client-diamond")] == [graph_run["id"]]
    assert {"tree_reduction", "client-diamond"} <= {w["name"] for w in api.workflows()}
    preview = api.preview("tree_reduction", params={"n": 8}, planners=["wukong"], slas=["p50", "p90"])
    assert [p["sla"] for p in preview["plans"]] == ["p50", "p90"]

    with pytest.raises(ApiError) as err:
        api.cancel(run["id"])
    assert err.value.status == 409
    with pytest.raises(ApiError) as err:
        api.submit({"nodes": [{"id": "a", "function": "os.system", "args": ["true"]}]})
    assert err.value.status == 400 and "not a registered workflow module" in err.value.field_errors["dag"][0]
    with pytest.raises(ApiError) as err:
        Client(live_server.url, "wrong-token").runs()
    assert err.value.status == 401


def test_client_failed_and_cancelled_runs(api):
    failed = api.submit(t.boom(7))
    with pytest.raises(RunFailed, match="boom on 7"):
        api.result(failed["id"], timeout=60)

    slow = api.submit(t.slow_inc(t.slow_inc(1, 2.0), 2.0))
    until(lambda: api.get(slow["id"])["status"] == "running", what="the run to start")  # cancelled mid-run
    assert api.cancel(slow["id"])["status"] == "cancelled"
    with pytest.raises(RunCancelled):
        api.result(slow["id"], timeout=30)
    with pytest.raises(TimeoutError):
        api.wait(api.submit(t.slow_inc(1, 3.0))["id"], timeout=0.5)


def test_client_waits_as_retry_after_says_when_throttled(live, live_server, settings):
    """The server's throttle answers 429 with Retry-After; the client waits that long and succeeds."""
    settings.SLAFLOW_API_SUBMIT_RATE = "1/second"
    api = Client(live_server.url, issue_token(username="client-throttled", create_user=True).key, timeout=30)
    first = api.submit("tree_reduction", params={"n": 8})
    second = api.submit("tree_reduction", params={"n": 8})  # within the same second: throttled first
    assert second["id"] != first["id"]
    assert api.waits and api.waits[0][0] == 429 and 0 < api.waits[0][1] <= 1
    assert api.result(first["id"], timeout=60) == api.result(second["id"], timeout=60) == 28

    impatient = Client(live_server.url, api.token, retries=0)
    with pytest.raises(Throttled) as err:  # a submission a moment ago: this one is within the same second
        for _ in range(3):
            impatient.submit("tree_reduction", params={"n": 8})
    assert err.value.status == 429 and err.value.retry_after is not None and impatient.waits == []


def test_client_does_not_wait_longer_than_it_may_when_redis_is_down(db, live_server, settings):
    """Redis down: the API answers 503 with Retry-After 5; a client allowed 1 s raises at once."""
    import socket

    from orchestrator.core import envconfig
    from store import redis_client

    api = Client(live_server.url, issue_token(username="client-503", create_user=True).key, max_wait_s=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.SLAFLOW_API_SUBMIT_RATE = ""  # the throttle's cache lives in Redis too
    settings.REDIS = envconfig.redis_target(f"redis://127.0.0.1:{port}/0")
    redis_client.reset()
    try:
        with pytest.raises(Unavailable) as err:
            api.submit("tree_reduction", params={"n": 8})
    finally:
        redis_client.reset()
    assert err.value.status == 503 and err.value.retry_after == 5 and api.waits == []


def test_retry_after_reads_seconds_and_http_dates():
    from orchestrator.client import retry_after_s

    assert retry_after_s("3") == 3.0 and retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_the_client_imports_and_works_without_django_celery_or_numpy(api, live_server):
    """As in a `slaflow[client]` install: the server's packages cannot be imported at all."""
    import subprocess
    import sys

    from django.conf import settings as dj

    program = f"""
import sys
BLOCKED = {{"django", "celery", "kombu", "numpy", "scipy", "redis", "rest_framework", "plotly"}}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
from orchestrator.client import Client
api = Client({live_server.url!r}, {api.token!r})
names = {{w["name"] for w in api.workflows()}}
assert "tree_reduction" in names, names
assert not BLOCKED & set(m.split(".")[0] for m in sys.modules), sorted(BLOCKED & set(sys.modules))
from slaflow.cli import main  # the slaflow script says what is missing instead of a traceback
assert main(["run", "tree_reduction"]) == 1
print("ok", len(names))
"""
    out = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(dj.BASE_DIR),
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")
    assert "the server side is not installed (no django, celery, numpy): pip install 'slaflow[server]'" in out.stderr
