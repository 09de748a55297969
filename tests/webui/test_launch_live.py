"""Launching from the web form on the real cluster: the run belongs to the user and lands on its page."""

import pytest
from django.contrib.auth import get_user_model

from orchestrator.handles import RunHandle
from orchestrator.models import WorkflowRun

pytestmark = pytest.mark.integration


def test_launch_form_submits_a_library_run_owned_by_the_user(live, client):
    user = get_user_model().objects.create_user("erin", password="erin-pw-123")
    client.force_login(user)
    response = client.post("/launch/", {"workflow": "diamond", "params": "x=5", "planner": "wukong", "sla": "p95"})
    run = WorkflowRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert (run.owner, run.planner, run.sla, run.params) == (user, "wukong", "p95", {"x": 5})
    assert RunHandle(run.pk).wait(timeout=60) == "succeeded"
    page = client.get(response["Location"]).content.decode()
    assert 'data-finished="true"' in page and "status-succeeded" in page
    live_json = client.get(f"/runs/{run.pk}/live.json").json()
    assert live_json["finished"] and set(live_json["states"].values()) == {"succeeded"}
