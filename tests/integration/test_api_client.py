"""orchestrator.client against a live server with real workers."""
import time

import pytest

from orchestrator.client import ApiError, Client, NotJSONResult, RunCancelled, RunFailed
from orchestrator.services.accounts import issue_token
from tests import taskfns as t

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
    assert err.value.status == 400 and "outside the allowed" in err.value.field_errors["dag"][0]
    with pytest.raises(ApiError) as err:
        Client(live_server.url, "wrong-token").runs()
    assert err.value.status == 401


def test_client_failed_and_cancelled_runs(api):
    failed = api.submit(t.boom(7))
    with pytest.raises(RunFailed, match="boom on 7"):
        api.result(failed["id"], timeout=60)

    slow = api.submit(t.slow_inc(t.slow_inc(1, 2.0), 2.0))
    time.sleep(0.5)
    assert api.cancel(slow["id"])["status"] == "cancelled"
    with pytest.raises(RunCancelled):
        api.result(slow["id"], timeout=30)
    with pytest.raises(TimeoutError):
        api.wait(api.submit(t.slow_inc(1, 3.0))["id"], timeout=0.5)
