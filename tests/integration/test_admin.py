"""Django admin for operators: every model listed, searchable, read-only metrics, run → tasks/plan links."""

import pytest
from django.contrib import admin
from django.urls import reverse
from rest_framework.authtoken.models import TokenProxy

from orchestrator import models
from orchestrator.handles import RunHandle
from slaflow import submit
from tests import taskfns as t

pytestmark = [pytest.mark.integration]

MODELS = [models.Workflow, models.WorkflowRun, models.Plan, models.TaskRun, models.WorkerStartup, models.RunResult]


def test_every_model_and_api_tokens_are_registered():
    for model in MODELS + [TokenProxy]:
        assert admin.site.is_registered(model), model
        model_admin = admin.site._registry[model]
        assert model_admin.search_fields, model


def test_admin_pages_for_a_real_run(live, admin_client):
    run = submit(t.add(t.inc(1), t.inc(2)), name="admin-run")
    assert run.result(timeout=60) == 5
    for model in MODELS:
        name = model._meta.model_name
        url = reverse(f"admin:orchestrator_{name}_changelist")
        assert admin_client.get(url).status_code == 200, name
        assert admin_client.get(url, {"q": "admin-run"}).status_code == 200, name
        assert admin_client.get(url, {"q": "not a number"}).status_code == 200, name
    page = admin_client.get(reverse("admin:orchestrator_workflowrun_change", args=[run.id])).content.decode()
    plan = models.Plan.objects.get(run_id=run.id)
    assert f"/admin/orchestrator/taskrun/?run__id__exact={run.id}" in page
    assert f"/admin/orchestrator/workerstartup/?run__id__exact={run.id}" in page
    assert reverse("admin:orchestrator_plan_change", args=[plan.pk]) in page
    tasks = admin_client.get(reverse("admin:orchestrator_taskrun_changelist"), {"run__id__exact": run.id})
    assert tasks.content.decode().count("admin-run") >= 1 and "inc-0" in tasks.content.decode()
    # Runs come from submissions only: no "add" in the admin, and metrics cannot be edited.
    assert admin_client.get(reverse("admin:orchestrator_workflowrun_add")).status_code == 403
    assert admin_client.get(reverse("admin:orchestrator_taskrun_add")).status_code == 403
    assert "makespan_s" in admin.site._registry[models.WorkflowRun].readonly_fields
    assert admin_client.get(reverse("admin:authtoken_tokenproxy_changelist")).status_code == 200


def test_admin_cancel_action(live, admin_client, counts):
    import time

    tag = f"admin-cancel-{time.time_ns()}"
    run = submit(t.slow_inc(t.slow_inc(1, 1.5, tag=tag), 1.5, tag=tag), name="admin-slow")
    resp = admin_client.post(
        reverse("admin:orchestrator_workflowrun_changelist"),
        {"action": "cancel_runs", "_selected_action": [run.id]},
        follow=True,
    )
    assert resp.status_code == 200 and "Cancelled 1 run" in resp.content.decode()
    assert RunHandle(run.id).wait(timeout=30) == "cancelled"
