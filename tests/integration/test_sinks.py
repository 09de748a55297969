"""Several sinks on real workers: from the Python API (a list or a dict), a JSON spec over REST, the library."""

from experiments.runner import run_and_check
from orchestrator.models import TaskRun
from slaflow import submit
from tests import taskfns as t
from tests.apiutil import client_for, wait_for_status


def test_submitting_a_list_or_a_dict_of_nodes_returns_their_values_in_that_shape(live):
    base = t.value(4)
    run = submit([t.inc(base), t.add(base, base), t.total([base, base, base])], name="three-ends")
    assert run.result(timeout=60) == [5, 8, 12]
    named = submit({"plus_one": t.inc(base), "double": t.add(base, base)}, name="named-ends")
    assert named.result(timeout=60) == {"plus_one": 5, "double": 8}
    # the collecting task is recorded like any other, begun after every sink (a sink's end is stamped after
    # its counters' call, which may come a moment after the other sink's released the collector)
    recs = {r.node_id: r for r in TaskRun.objects.filter(run_id=named.id)}
    assert recs["result"].status == "succeeded"
    assert recs["result"].start_s >= max(recs[n].start_s for n in ("inc-0", "add-0"))


def test_a_json_spec_with_three_sinks_over_rest_returns_a_mapping_of_sink_to_value(live):
    api = client_for("sinks-user")
    dag = {
        "name": "three-sinks",
        "nodes": [
            {"id": "a", "function": "tests.taskfns.value", "args": [5]},
            {"id": "b", "function": "tests.taskfns.inc", "args": [{"ref": "a"}]},
            {"id": "c", "function": "tests.taskfns.add", "args": [{"ref": "a"}, {"ref": "a"}]},
            {"id": "d", "function": "tests.taskfns.inc", "args": [{"ref": "b"}]},
        ],
    }
    resp = api.post("/api/runs/", {"dag": dag, "planner": "wukong", "sla": "p90"}, format="json")
    assert resp.status_code == 201, resp.content
    run_id = resp.json()["id"]
    assert wait_for_status(api, run_id)["status"] == "succeeded"
    assert api.get(f"/api/runs/{run_id}/result/").json()["value"] == {"c": 10, "d": 7}  # b feeds d: not a sink
    tasks = api.get(f"/api/runs/{run_id}/tasks/").json()["results"]
    assert sorted(x["node_id"] for x in tasks) == ["a", "b", "c", "d", "result"]


def test_the_run_page_shows_each_sink_s_result(live, client, django_user_model):
    user = django_user_model.objects.create_user("sinks-viewer", password="x")
    base = t.value(2)
    run = submit({"plus_one": t.inc(base), "double": t.add(base, base)}, name="named-ends-page", owner=user)
    run.result(timeout=60)
    client.force_login(user)
    page = client.get(f"/runs/{run.id}/").content.decode()
    section = page[page.index('id="sink-results"') :]
    assert "<td>plus_one</td><td><code>3</code>" in section and "<td>double</td><td><code>4</code>" in section


def test_the_library_s_several_sinks_workflow_runs_and_is_planned_after_one_run(live):
    first = run_and_check("sensor_report", planner="wukong", sla="p90", params={}, timeout_s=120)
    assert first["status"] == "succeeded" and first["correct"] is True and first["tasks"] == 5
    planned = run_and_check("sensor_report", planner="uniform", sla="p90", params={}, timeout_s=120)
    assert planned["correct"] is True and planned["predicted_makespan_s"] > 0
