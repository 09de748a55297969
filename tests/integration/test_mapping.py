"""Dynamic fan-outs on real workers: a mapped task expands at run time, one task per element."""

import pytest

from orchestrator.models import TaskRun, WorkflowRun
from orchestrator.services.runs import SubmissionError
from slaflow import submit, submit_spec
from tests import taskfns as t


def test_a_map_over_fifty_elements_runs_fifty_tasks_and_its_downstream_gets_their_results_in_order(live, settings):
    run = submit(t.gather(t.square.map(t.split_n(50), add=1)), name="map-50")
    assert run.result(timeout=90) == [i * i + 1 for i in range(50)]
    recs = {r.node_id: r for r in TaskRun.objects.filter(run_id=run.id)}
    elements = sorted((n for n in recs if n.startswith("square-0[")), key=lambda n: int(n[9:-1]))
    assert elements == [f"square-0[{i}]" for i in range(50)] and all(recs[e].status == "succeeded" for e in elements)
    assert recs["square-0"].function == "orchestrator.core.mapping.gather"
    assert recs["square-0"].optimizations["map_width"] == 50 and recs["split_n-0"].optimizations["mapped"] == {
        "square-0": 50
    }
    # the gather began after every element task did (an element's end is stamped after its counters' call,
    # which may come a moment after the last one's released the gather elsewhere)
    assert recs["square-0"].start_s >= max(recs[e].start_s for e in elements)
    assert all(recs[e].worker_id.startswith("x:") for e in elements)  # flexible: executors pop them as they free up


def test_a_map_over_an_empty_list_gives_an_empty_list(live):
    run = submit(t.gather(t.square.map(t.split_n(0))), name="map-0")
    assert run.result(timeout=60) == []
    assert not TaskRun.objects.filter(run_id=run.id, node_id__startswith="square-0[").exists()


def test_a_map_over_more_elements_than_the_limit_fails_clearly(live):
    run = submit(t.gather(t.square.map(t.split_n(1001))), name="map-too-wide")
    with pytest.raises(
        Exception,
        match=r"map 'square-0' over 'split_n-0': 1001 elements, more than "
        r"SLAFLOW_MAP_MAX_WIDTH \(1000\)",
    ):
        run.result(timeout=60)
    assert WorkflowRun.objects.get(pk=run.id).status == "failed"


def test_a_mapped_spec_over_rest_form_runs_and_a_map_taking_other_task_outputs_is_refused(live):
    spec = {
        "name": "map-spec",
        "nodes": [
            {"id": "s", "function": "tests.taskfns.split_n", "args": [4]},
            {"id": "p", "function": "tests.taskfns.square", "map": {"ref": "s"}, "kwargs": {"add": 2}},
            {"id": "g", "function": "tests.taskfns.gather", "args": [{"ref": "p"}]},
        ],
    }
    assert submit_spec(spec).result(timeout=60) == [2, 3, 6, 11]
    bad = {
        "nodes": [
            {"id": "s", "function": "tests.taskfns.split_n", "args": [4]},
            {"id": "x", "function": "tests.taskfns.value", "args": [1]},
            {"id": "p", "function": "tests.taskfns.add", "map": {"ref": "s"}, "args": [{"ref": "x"}]},
        ]
    }
    with pytest.raises(SubmissionError, match=r"mapped node 'p' takes task outputs only through 's', not 'x'"):
        submit_spec(bad)


def test_planners_plan_a_mapped_workflow_after_one_run_of_history(live):
    sink = t.total(t.square.map(t.split_n(8)))
    assert submit(sink, name="map-planned", planner="wukong").result(timeout=60) == sum(i * i for i in range(8))
    for planner in ("uniform", "non-uniform"):
        run = submit(sink, name="map-planned", planner=planner)
        assert run.result(timeout=60) == sum(i * i for i in range(8))
        wr = WorkflowRun.objects.get(pk=run.id)
        assert wr.plan.predicted_makespan_s and not wr.plan.data["note"].startswith("no history"), wr.plan.data["note"]
        assert "mapped widths from the last run: square-0 ×8" in wr.plan.data["note"]  # the width seen before


def test_the_run_page_and_the_api_list_the_expanded_tasks(live, client, django_user_model):
    from tests.apiutil import client_for

    api = client_for("map-user")
    spec = {
        "name": "map-page",
        "nodes": [
            {"id": "s", "function": "tests.taskfns.split_n", "args": [3]},
            {"id": "p", "function": "tests.taskfns.square", "map": {"ref": "s"}},
            {"id": "g", "function": "tests.taskfns.gather", "args": [{"ref": "p"}]},
        ],
    }
    resp = api.post("/api/runs/", {"dag": spec, "planner": "wukong", "sla": "p90"}, format="json")
    assert resp.status_code == 201, resp.content
    run_id = resp.json()["id"]
    from tests.apiutil import wait_for_status

    assert wait_for_status(api, run_id)["status"] == "succeeded"
    listed = sorted(x["node_id"] for x in api.get(f"/api/runs/{run_id}/tasks/").json()["results"])
    assert listed == ["g", "p", "p[0]", "p[1]", "p[2]", "s"]
    user = django_user_model.objects.get(username="map-user")
    client.force_login(user)
    page = client.get(f"/runs/{run_id}/").content.decode()
    assert all(f">p[{i}]<" in page for i in range(3)), "the run page lists every element task"
