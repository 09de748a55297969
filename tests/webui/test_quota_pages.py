"""The web tier's limits through Django's test client (issue 23, rows 11 and 12, and row 10's web forms): the plan
preview makes no more plans than the REST preview, a campaign over the size limit is refused before anything is
scheduled, one campaign process per user at a time, and the launch form shows a user's quota."""

import re

import pytest
from django.contrib.auth import get_user_model

from experiments.campaigns import design, execute
from orchestrator import planning
from orchestrator.models import Experiment, ExperimentRun, WorkflowRun
from orchestrator.services import previews
from slaflow import workflows
from tests.apiutil import client_for
from tests.webui import factories as f

pytestmark = pytest.mark.django_db

NINE_SLAS = ["average", "p10", "p20", "p30", "p40", "p50", "p60", "p70", "p80"]


@pytest.fixture
def mallory(client):
    user = get_user_model().objects.create_user("mallory", password="pw-mallory-1")
    client.force_login(user)
    return user


def test_the_web_preview_makes_no_more_plans_than_the_rest_preview(client, mallory):
    wf = f.workflow()
    f.make_run(mallory, wf=wf)  # a workflow a user has run is one they may preview
    planners = len(planning.names())
    assert planners * len(NINE_SLAS) > previews.MAX_COMBINATIONS >= planners * 8
    query = "&".join(f"sla={s}" for s in NINE_SLAS)
    html = client.get(f"/workflows/{wf.pk}/preview/?{query}").content.decode()
    message = f"{planners} planners × 9 SLAs is over the limit of {previews.MAX_COMBINATIONS} plans"
    assert message in html
    assert not re.findall(r"<tr>\s*<td>([\w-]+)</td><td>(p\d+|average)</td>", html)  # nothing was planned
    # The REST preview refuses the same request with the same words (one limit, one validator).
    api = client_for("mallory")
    rest = api.post(
        "/api/plans/preview/",
        {
            "dag": {"nodes": [{"id": "a", "function": "tests.taskfns.value", "args": [1]}]},
            "planners": planning.names(),
            "slas": NINE_SLAS,
        },
        format="json",
    )
    assert rest.status_code == 400 and message in rest.json()["slas"][0]
    # At the limit, every planner × SLA is planned.
    html = client.get(f"/workflows/{wf.pk}/preview/?" + "&".join(f"sla={s}" for s in NINE_SLAS[:8])).content.decode()
    assert len(re.findall(r"<tr>\s*<td>([\w-]+)</td><td>(p\d+|average)</td>", html)) == planners * 8


def test_web_previews_count_against_the_same_rate_as_rest_previews(client, mallory, settings, redis_server):
    """Each web preview plans up to 48 plans (24 of a 10,000-task graph took 6.1 s) and
    was never throttled, while the REST preview counts against SLAFLOW_API_SUBMIT_RATE: the same bucket now."""
    settings.SLAFLOW_API_SUBMIT_RATE = "2/minute"
    wf = f.workflow()
    f.make_run(mallory, wf=wf)
    url = f"/workflows/{wf.pk}/preview/?sla=p90"
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    refused = client.get(url)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1, refused.status_code
    assert "SLAFLOW_API_SUBMIT_RATE" in refused.content.decode()
    rest = client_for("mallory").post(
        "/api/plans/preview/", {"workflow": "diamond", "planners": ["wukong"]}, format="json"
    )
    assert rest.status_code == 429  # one bucket for both
    other = get_user_model().objects.create_user("bystander", password="pw-bystander-1")
    client.force_login(other)
    f.make_run(other, wf=wf)
    assert client.get(url).status_code == 200  # per user


def test_a_campaign_over_the_size_limit_is_refused_naming_both_numbers_before_anything_is_stored(client, mallory):
    library = list(workflows.all_workflows())
    slas = "p10 p20 p30 p40 p50 p60 p70 p80 p90"
    total = len(library) * len(planning.names()) * 9 * 100
    resp = client.post(
        "/experiments/",
        {"workflows": library, "planners": planning.names(), "slas": slas, "iterations": 100, "warmup": 0, "seed": 0},
    )
    assert resp.status_code == 200
    html = resp.content.decode()
    assert (
        f"the campaign would make {total} runs, more than one campaign of a user may "
        "(SLAFLOW_QUOTA_CAMPAIGN_RUNS=1000)" in html
    )
    assert not Experiment.objects.exists() and not ExperimentRun.objects.exists()


def test_one_campaign_per_user_at_a_time_bounds_the_background_processes(client, mallory, tmp_path):
    small = design.parse(workflows=["diamond"], planners=["wukong"], slas=["p90"], iterations=1, warmup=0, seed=0)
    first = execute.create(small, out_dir=tmp_path / "first", owner=mallory)  # stored, pending (not launched)
    resp = client.post(
        "/experiments/",
        {"workflows": ["diamond"], "planners": ["wukong"], "slas": "p90", "iterations": 1, "warmup": 0, "seed": 0},
    )
    assert resp.status_code == 200
    assert (
        "you have 1 campaign(s) pending or running, the most one user may have at once "
        "(SLAFLOW_QUOTA_ACTIVE_CAMPAIGNS=1)" in resp.content.decode()
    )
    assert list(Experiment.objects.values_list("pk", "pid")) == [(first.pk, None)]  # no second process
    # Staff are exempt (operators); a finished campaign frees the user's slot.
    staff = get_user_model().objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    execute.create(small, out_dir=tmp_path / "staff-1", owner=staff)
    execute.create(small, out_dir=tmp_path / "staff-2", owner=staff)
    Experiment.objects.filter(pk=first.pk).update(status=Experiment.Status.FINISHED)
    assert execute.create(small, out_dir=tmp_path / "second", owner=mallory).owner == mallory


def test_the_launch_form_shows_the_quota_that_refused_it(client, mallory, settings):
    settings.SLAFLOW_QUOTA_CONCURRENT_RUNS = 1
    f.make_run(mallory, status="running")
    before = WorkflowRun.objects.count()
    resp = client.post("/launch/", {"workflow": "diamond", "params": "", "planner": "wukong", "sla": "p90"})
    assert resp.status_code == 200
    assert "you have 1 runs pending or running" in resp.content.decode()
    assert "SLAFLOW_QUOTA_CONCURRENT_RUNS=1" in resp.content.decode()
    assert WorkflowRun.objects.count() == before


def test_the_launch_form_names_a_parameter_over_its_bound(client, mallory):
    resp = client.post(
        "/launch/", {"workflow": "fixed_times", "params": "seconds=7200", "planner": "wukong", "sla": "p90"}
    )
    assert resp.status_code == 200
    assert "fixed_times parameter &#x27;seconds&#x27; is 7200.0, more than its bound of 60.0" in resp.content.decode()
    assert not WorkflowRun.objects.exists()
