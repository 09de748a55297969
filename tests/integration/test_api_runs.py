"""REST API runs on real Celery workers: the full flow, per-user visibility, cancel, throttling, no pickle."""

import pickle
import time

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from orchestrator import planning
from orchestrator.models import TaskRun, WorkflowRun
from tests.apiutil import client_for, stored_counts, wait_for_status
from tests.waiting import LogTail, until

pytestmark = [pytest.mark.integration]

# The walk-through uses the uniform planner; fall back to wukong where it is not registered yet.
PLANNER = "uniform" if "uniform" in planning.names() else "wukong"


@pytest.fixture(autouse=True)
def fresh_throttles(redis_server):
    """Throttle histories live in the shared Redis cache; start each test without any."""
    from store import keys

    for key in redis_server.scan_iter(match=keys.CACHE_PREFIX + ":*"):
        redis_server.delete(key)


def test_full_flow_token_submit_poll_result_plan_tasks(live, capsys):
    call_command("issue_token", "flow-user", "--create-user")
    token = capsys.readouterr().out.strip()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    resp = api.post("/api/runs/", {"workflow": "tree_reduction", "planner": PLANNER, "sla": "p90"}, format="json")
    assert resp.status_code == 201, resp.content
    run = resp.json()
    assert run["status"] in ("running", "succeeded") and run["owner"] == "flow-user"
    assert resp["Location"].endswith(f"/api/runs/{run['id']}/") and run["links"]["result"].endswith("/result/")

    done = wait_for_status(api, run["id"])
    assert done["status"] == "succeeded", done
    assert done["makespan_s"] > 0 and done["gb_seconds"] > 0 and done["task_count"] == 63
    assert done["planner"] == PLANNER and done["sla"] == "p90" and done["params"] == {"n": 64}

    result = api.get(f"/api/runs/{run['id']}/result/").json()
    assert result == {"run": run["id"], "status": "succeeded", "json": True, "value": 2016, "type": "int", "bytes": 4}

    plan = api.get(f"/api/runs/{run['id']}/plan/").json()
    assert plan["planner"] == PLANNER and plan["sla"] == "p90" and len(plan["data"]["tasks"]) == 63

    tasks = api.get(f"/api/runs/{run['id']}/tasks/").json()
    assert tasks["count"] == 63 and len(tasks["results"]) == 63
    for t in tasks["results"]:
        assert t["status"] == "succeeded" and t["function"] == "slaflow.workflows.tree_reduction.add"
        assert t["planned"]["memory_mb"] and t["observed"]["memory_mb"] and t["observed"]["exec_s"] >= 0
    one_page = api.get(f"/api/runs/{run['id']}/tasks/", {"page_size": 10}).json()
    assert len(one_page["results"]) == 10 and one_page["next"]

    listed = api.get("/api/runs/", {"workflow": "tree_reduction", "status": "succeeded"}).json()
    assert [r["id"] for r in listed["results"]] == [run["id"]]
    catalog = {e["name"]: e for e in api.get("/api/workflows/").json()["results"]}
    assert catalog["tree_reduction"]["run_count"] == 1

    # A finished run cannot be cancelled.
    again = api.post(f"/api/runs/{run['id']}/cancel/")
    assert again.status_code == 409 and "already succeeded" in again.json()["detail"]


def test_users_see_and_cancel_only_their_own_runs(live):
    alice, bob, staff = client_for("vis-alice"), client_for("vis-bob"), client_for("vis-staff", staff=True)
    resp = alice.post("/api/runs/", {"workflow": "diamond"}, format="json")
    assert resp.status_code == 201
    run_id = resp.json()["id"]
    wait_for_status(alice, run_id)

    for suffix in ["", "plan/", "tasks/", "result/"]:
        assert bob.get(f"/api/runs/{run_id}/{suffix}").status_code == 404, suffix
    assert bob.post(f"/api/runs/{run_id}/cancel/").status_code == 404
    assert bob.get("/api/runs/").json()["count"] == 0
    bob_catalog = {e["name"]: e for e in bob.get("/api/workflows/").json()["results"]}
    assert bob_catalog["diamond"]["run_count"] == 0

    assert alice.get("/api/runs/").json()["count"] == 1
    assert staff.get(f"/api/runs/{run_id}/").json()["owner"] == "vis-alice"
    assert run_id in [r["id"] for r in staff.get("/api/runs/").json()["results"]]
    assert (
        staff.get(f"/api/runs/{run_id}/result/").json()["value"]
        == alice.get(f"/api/runs/{run_id}/result/").json()["value"]
    )


def test_dag_submission_runs_and_is_listed_as_a_submitted_workflow(live):
    api = client_for("dag-user")
    dag = {
        "name": "inc-chain",
        "nodes": [
            {"id": "a", "function": "tests.taskfns.value", "args": [5]},
            {"id": "b", "function": "tests.taskfns.inc", "args": [{"ref": "a"}]},
            {"id": "c", "function": "tests.taskfns.add", "args": [{"ref": "a"}, {"ref": "b"}]},
        ],
    }
    resp = api.post("/api/runs/", {"dag": dag, "sla": "average"}, format="json")
    assert resp.status_code == 201, resp.content
    run_id = resp.json()["id"]
    assert wait_for_status(api, run_id)["status"] == "succeeded"
    assert api.get(f"/api/runs/{run_id}/result/").json()["value"] == 11
    mine = [e for e in api.get("/api/workflows/").json()["results"] if e["source"] == "api"]
    assert [(e["name"], e["task_count"], e["run_count"]) for e in mine] == [("inc-chain", 3, 1)]
    others = client_for("dag-other").get("/api/workflows/").json()["results"]
    assert others and all(e["source"] == "library" for e in others)  # another user's dag stays private


def test_non_json_result_is_described_not_returned(live):
    api = client_for("nd-user")
    resp = api.post(
        "/api/runs/",
        {
            "dag": {
                "nodes": [
                    {"id": "t", "function": "tests.taskfns.value", "args": [{"__sf__": "tuple", "items": [1, 2]}]}
                ]
            }
        },
        format="json",
    )
    assert resp.status_code == 201, resp.content
    assert wait_for_status(api, resp.json()["id"])["status"] == "succeeded"
    out = api.get(f"/api/runs/{resp.json()['id']}/result/").json()
    assert out["json"] is False and out["value"] is None and out["type"] == "tuple" and out["bytes"] > 0


def test_failed_run_result_is_409_with_the_error(live):
    api = client_for("fail-user")
    resp = api.post(
        "/api/runs/", {"dag": {"nodes": [{"id": "x", "function": "tests.taskfns.boom", "args": [3]}]}}, format="json"
    )
    run_id = resp.json()["id"]
    assert wait_for_status(api, run_id)["status"] == "failed"
    out = api.get(f"/api/runs/{run_id}/result/")
    assert out.status_code == 409
    assert out.json()["status"] == "failed" and out.json()["failed_node"] == "x" and "boom on 3" in out.json()["error"]


def test_cancel_stops_the_running_task_and_starts_no_further_one(live, counts, redis_server):
    from store import keys

    api = client_for("cancel-user")
    tag = f"api-cancel-{time.time_ns()}"
    nodes = [{"id": "s0", "function": "tests.taskfns.slow_inc", "args": [0, 30], "kwargs": {"tag": tag}}]
    for i in range(1, 5):
        nodes.append(
            {
                "id": f"s{i}",
                "function": "tests.taskfns.slow_inc",
                "args": [{"ref": f"s{i - 1}"}, 30],
                "kwargs": {"tag": tag},
            }
        )
    run_id = api.post("/api/runs/", {"dag": {"name": "slow-chain", "nodes": nodes}}, format="json").json()["id"]
    until(lambda: counts(tag) >= 1, timeout_s=60, what="the first task to start")

    t0 = time.monotonic()
    resp = api.post(f"/api/runs/{run_id}/cancel/")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert api.post(f"/api/runs/{run_id}/cancel/").status_code == 409
    # The 30 s task is stopped: every branch of the run ends within seconds.
    until(
        lambda: (
            not redis_server.exists(keys.live(run_id))
            and not TaskRun.objects.filter(run_id=run_id, status__in=["pending", "ready", "running"]).exists()
        ),
        timeout_s=20,
        what="the run's branches to end",
    )
    assert time.monotonic() - t0 < 15
    assert counts(tag) == 1  # no further task started
    assert api.get(f"/api/runs/{run_id}/").json()["status"] == "cancelled"
    assert api.get(f"/api/runs/{run_id}/result/").status_code == 409
    statuses = dict(TaskRun.objects.filter(run_id=run_id).values_list("node_id", "status"))
    assert statuses == {f"s{i}": "cancelled" for i in range(5)}
    tasks = api.get(f"/api/runs/{run_id}/tasks/").json()["results"]
    assert {t["node_id"]: t["status"] for t in tasks} == statuses


def test_submissions_are_throttled_with_retry_after(live, settings, redis_server):
    from store import keys

    settings.SLAFLOW_API_SUBMIT_RATE = "2/minute"
    api, other = client_for("busy-user"), client_for("calm-user")
    for _ in range(2):
        assert api.post("/api/runs/", {"workflow": "diamond"}, format="json").status_code == 201
    before = stored_counts()
    resp = api.post("/api/runs/", {"workflow": "diamond"}, format="json")
    assert resp.status_code == 429
    assert 0 < int(resp["Retry-After"]) <= 60
    assert stored_counts() == before  # a throttled submission stores nothing
    assert api.get("/api/runs/").status_code == 200  # reads are not throttled
    assert other.post("/api/runs/", {"workflow": "diamond"}, format="json").status_code == 201  # per user
    # The counters sit in the shared Redis cache, so every web process sees the same history.
    assert any(b"throttle_submissions" in k for k in redis_server.scan_iter(match=keys.CACHE_PREFIX + ":*"))
    for run in WorkflowRun.objects.filter(owner__username__in=["busy-user", "calm-user"]):
        wait_for_status(api if run.owner.username == "busy-user" else other, run.pk)


def test_broker_accepts_json_only_and_a_worker_refuses_pickle(live, counts, redis_server):
    from orchestrator.celery import app
    from orchestrator.core import router

    assert list(app.conf.accept_content) == ["json"]
    assert app.conf.task_serializer == "json" and app.conf.result_serializer == "json"
    assert app.conf.event_serializer == "json"

    tag = f"pickle-{time.time_ns()}"
    payload = _CountOnUnpickle(tag)
    pickle.loads(pickle.dumps(payload))  # control: unpickling this payload does run code
    assert counts(tag) == 1

    # A pickled message on a real queue: a worker that unpickled it would bump the counter again.
    queue = router.queue_for(live.memory_configs[0])
    log = LogTail(live.log_dir / f"worker-{queue}.log")
    sent = app.send_task("workers.tasks.prewarm", args=[payload], serializer="pickle", queue=queue)
    until(
        lambda: "Refusing to deserialize untrusted content of type pickle" in log.text(),
        what="the worker to report refusing the pickled message",
    )
    until(lambda: not _in_broker(redis_server, queue, sent.id), what="the refused message to leave the broker")
    assert counts(tag) == 1  # refused, never unpickled
    live.check_alive()  # and the worker is still up


def _in_broker(redis, queue: str, task_id: str) -> bool:
    """The message is still queued, or delivered and not yet acknowledged (kombu's Redis transport keeps
    those in its ``unacked`` hash)."""
    held = redis.lrange(queue, 0, -1) + list(redis.hvals("unacked"))
    return any(task_id.encode() in message for message in held)


class _CountOnUnpickle:
    def __init__(self, tag):
        self.tag = tag

    def __reduce__(self):
        from tests.taskfns import _count

        return _count, (self.tag,)
