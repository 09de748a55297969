"""Web UI pages through Django's test client: access rules, empty states, figures from real rows.

Run data here is synthetic (tests/webui/factories.py) so that plans with
predictions can be shown before predicting planners exist; live state comes
from the real Redis (``redis_server``). Launching real runs is in
tests/webui/test_launch_live.py and tests/browser/.
"""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from orchestrator import planning
from orchestrator.core import router
from orchestrator.models import Workflow, WorkflowRun
from store import dataplane
from tests.webui import factories as f

pytestmark = pytest.mark.django_db


def figures_in(response) -> dict[str, dict]:
    html = response.content.decode()
    return {
        m.group(1): json.loads(m.group(2))
        for m in re.finditer(r'<script id="fig-(\w+)-data" type="application/json">(.*?)</script>', html, re.S)
    }


def trace(fig: dict, meta: str) -> dict:
    return next(t for t in fig["data"] if t.get("meta") == meta)


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_user("alice", password="pw-alice-123")
    client.force_login(user)
    return user


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob", password="pw-bob-123")


def test_every_page_needs_a_login(client):
    run = f.make_run()
    for url in (
        "/",
        f"/runs/{run.pk}/",
        f"/runs/{run.pk}/live.json",
        f"/runs/{run.pk}/body/",
        "/workflows/",
        f"/workflows/{run.workflow_id}/",
        f"/workflows/{run.workflow_id}/preview/",
        "/launch/",
        "/experiments/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next="), url


def test_login_page_logs_in_and_lands_on_runs(client, bob):
    assert "User name" in client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/login/", {"username": "bob", "password": "pw-bob-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "No runs yet" in client.get("/").content.decode()


def test_empty_states_say_what_to_do(client, alice):
    assert "launch one" in client.get("/").content.decode()
    assert "No workflows yet" in client.get("/workflows/").content.decode()
    assert "No runs with a promise yet" in client.get("/experiments/").content.decode()


def test_users_see_their_own_runs_and_staff_see_all(client, alice, bob):
    mine, theirs = f.make_run(alice), f.make_run(bob, planner="wukong")
    page = client.get("/").content.decode()
    assert f"#{mine.pk}<" in page and f"#{theirs.pk}<" not in page
    for url in (f"/runs/{theirs.pk}/", f"/runs/{theirs.pk}/live.json", f"/runs/{theirs.pk}/body/"):
        assert client.get(url).status_code == 404
    bob.is_staff = True
    bob.save()
    client.force_login(bob)
    page = client.get("/").content.decode()
    assert f"#{mine.pk}<" in page and f"#{theirs.pk}<" in page
    assert client.get(f"/runs/{mine.pk}/").status_code == 200


def test_runs_table_filters_and_marks_sla(client, alice):
    ok = f.make_run(alice, makespan=2.0, promise=2.5)
    missed = f.make_run(alice, makespan=3.0, promise=2.5, sla="p50")
    page = client.get("/").content.decode()
    assert "✓ within" in page and "✗ missed" in page
    page = client.get("/?sla=p50").content.decode()
    assert f"#{missed.pk}<" in page and f"#{ok.pk}<" not in page
    assert "No runs match these filters" in client.get("/?planner=nope").content.decode()


def test_runs_table_pages_through_every_run_keeping_the_filters(client, alice, monkeypatch):
    from webui.selectors import runs as run_sel

    monkeypatch.setattr(run_sel, "RUNS_PER_PAGE", 5)
    made = [f.make_run(alice, makespan=2.0, promise=2.5, sla="p50").pk for _ in range(12)]
    other = f.make_run(alice, makespan=2.0, promise=2.5, sla="p90").pk

    def ids(html):
        return [int(m) for m in re.findall(r'href="/runs/(\d+)/"', html)]

    pages = [client.get(f"/?sla=p50&page={n}").content.decode() for n in (1, 2, 3)]
    assert [len(ids(p)) for p in pages] == [5, 5, 2]
    assert sum((ids(p) for p in pages), []) == sorted(made, reverse=True)  # newest first, none twice, none lost
    assert other not in sum((ids(p) for p in pages), [])
    assert "runs 6–10 of 12 (page 2 of 3)" in pages[1]
    assert 'href="?sla=p50&amp;page=3" rel="next"' in pages[1] and 'href="?sla=p50&amp;page=1" rel="prev"' in pages[1]
    assert 'rel="next"' not in pages[2]
    assert ids(client.get("/?sla=p50&page=99").content.decode()) == ids(pages[2])  # past the end: the last page
    assert ids(client.get("/?sla=p50&page=x").content.decode()) == ids(pages[0])


def test_run_page_shows_plan_against_reality(client, alice):
    run = f.make_run(alice)
    response = client.get(f"/runs/{run.pk}/")
    html = response.content.decode()
    figs = figures_in(response)
    assert set(figs) == {"dag", "gantt", "breakdown", "critical", "taskparts"}
    nodes = trace(figs["dag"], "nodes")
    assert sorted(nodes["customdata"]) == ["a", "b", "c", "d"]
    # Finished: nodes coloured by resource config (w1's 512 MB tasks share a colour, c's 1024 MB differs).
    colors = dict(zip(nodes["customdata"], nodes["marker"]["color"]))
    assert colors["a"] == colors["b"] == colors["d"] != colors["c"]
    assert [x for x in trace(figs["dag"], "planned-path")["x"] if x is not None] != []
    observed_path = trace(figs["dag"], "observed-path")
    assert len([x for x in observed_path["x"] if x is not None]) == 4  # a → b → d, the slow branch
    gantt = figs["gantt"]
    assert len(trace(gantt, "observed:exec")["x"]) == 4 and len(trace(gantt, "planned:exec")["x"]) == 4
    assert len(trace(gantt, "observed:start-up (cold)")["x"]) == 2
    assert sorted(set(trace(gantt, "observed:exec")["y"])) == ["w1", "w2"]
    # b ran 3x its planned exec time: its exec cell is red with the difference.
    row_b = re.search(r"<tr>\s*<td><b[^>]*>b</b>.*?</tr>", html, re.S).group(0)
    assert "diff-bad" in row_b and "+200 %" in row_b
    assert "made no timing predictions" not in html
    assert "pre-warmed (hits)" in html and "prewarm_hit: True" in html
    assert "synthetic uniform plan" in html
    # How the promise was made: the typical makespan calibrated by past runs, and the other estimates.
    assert "typical 1.680 s × 1.250 (calibrated on 7 past runs that started no process)" in html
    assert "Monte Carlo 2.310 s" in html and "sum of per-task percentiles 2.520 s" in html
    # The capacity the plan assumed, and how well the model explains runs: residuals observed ÷ typical.
    assert "simulated on 2 cores (published by the workers (1 host)): 3 tasks share them, slowed up to 1.50×" in html
    assert "this run 2.500" in html  # 4.2 s observed ÷ 1.68 s typical
    assert "the 5 past runs as this plan replayed them: median 1.050 (p10–p90 0.900–1.200)" in html


def test_run_page_without_predictions_says_so(client, alice):
    run = f.make_run(alice, planner="wukong", predicted=False, promise=None)
    response = client.get(f"/runs/{run.pk}/")
    html = response.content.decode()
    assert "made no timing predictions" in html and "none: this plan predicts nothing" in html
    figs = figures_in(response)
    assert "planned-path" not in {t.get("meta") for t in figs["dag"]["data"]}
    assert not any(t["meta"].startswith("planned:") for t in figs["gantt"]["data"])


def test_live_endpoint_reads_task_states_from_redis(client, alice, redis_server):
    run = f.make_run(alice, status="running", makespan=None)
    dataplane.set_state(run.pk, "a", "succeeded")
    dataplane.set_state(run.pk, "b", "running")
    try:
        data = client.get(f"/runs/{run.pk}/live.json").json()
        assert data["status"] == "running" and data["finished"] is False
        assert data["states"] == {"a": "succeeded", "b": "running", "c": "pending", "d": "pending"}
        assert data["counts"] == {"succeeded": 1, "running": 1, "pending": 2}
        assert data["colors"]["b"] == "#3b82f6"
        # The page itself shows the same live states, and says it is live.
        page = client.get(f"/runs/{run.pk}/")
        assert 'data-finished="false"' in page.content.decode()
        nodes = trace(figures_in(page)["dag"], "nodes")
        colors = dict(zip(nodes["customdata"], nodes["marker"]["color"]))
        assert colors == {"a": "#22a35a", "b": "#3b82f6", "c": "#d0d4da", "d": "#d0d4da"}
        before = data["version"]
        WorkflowRun.objects.filter(pk=run.pk).update(status="succeeded", makespan_s=1.0)
        after = client.get(f"/runs/{run.pk}/live.json").json()
        assert after["finished"] is True and after["version"] != before
    finally:
        dataplane.delete_run_data(run.pk)


def test_workflow_analysis_compares_planners_and_slas(client, alice):
    wf = f.workflow()
    for makespan in (1.0, 2.0, 3.0):  # promise 2.5: two of three within
        f.make_run(alice, makespan=makespan, promise=2.5, wf=wf)
    f.make_run(alice, planner="wukong", predicted=False, promise=None, makespan=1.5, wf=wf)
    f.make_run(alice, status="failed", makespan=None, wf=wf)
    response = client.get(f"/workflows/{wf.pk}/")
    figs = figures_in(response)
    assert set(figs) == {"makespan", "sla", "errors", "gb", "breakdown", "warmcold"}  # no optimization: no more
    bar = trace(figs["sla"], "sla:uniform")
    assert bar["x"] == ["p90"] and bar["y"] == [pytest.approx(200 / 3)] and bar["text"] == ["2/3"]
    assert len(trace(figs["makespan"], "box:uniform · p90")["y"]) == 3
    assert trace(figs["makespan"], "markers")["y"] == [2.5, 2.5, 2.5]
    assert [round(y) for y in trace(figs["errors"], "err:uniform · p90")["y"]] == [-60, -20, 20]
    html = response.content.decode()
    assert "Statistics over 4 succeeded run(s)" in html and "failed" in html


def test_workflow_pages_of_other_users_are_hidden(client, alice, bob):
    run = f.make_run(bob)
    assert client.get(f"/workflows/{run.workflow_id}/").status_code == 404
    assert client.get(f"/workflows/{run.workflow_id}/preview/").status_code == 404


def test_preview_plans_every_planner_dry_and_places_history_points(client, alice):
    wf = f.workflow()
    f.make_run(alice, planner="wukong", predicted=False, promise=None, makespan=1.5, gb_seconds=2.0, wf=wf)
    runs_before = WorkflowRun.objects.count()
    response = client.get(f"/workflows/{wf.pk}/preview/?sla=p50&sla=p90&sla=p100")
    html = response.content.decode()
    assert "is not &#x27;average&#x27; or a percentile" in html  # p100 named as the bad one
    rows = re.findall(r"<tr>\s*<td>([\w-]+)</td><td>(p\d+|average)</td>", html)
    assert sorted(rows) == sorted((p, s) for p in planning.names() for s in ("p50", "p90"))
    pareto = figures_in(response)["pareto"]
    wukong = trace(pareto, "planner:wukong")
    assert wukong["x"] == [2.0] and wukong["y"] == [1.5] and wukong["text"] == ["p50, p90"]
    assert WorkflowRun.objects.count() == runs_before  # a dry run stores nothing


def test_preview_without_history_explains(client, alice):
    wf = f.workflow()
    f.make_run(alice, planner="wukong", predicted=False, promise=None, status="failed", makespan=None, wf=wf)
    html = client.get(f"/workflows/{wf.pk}/preview/").content.decode()
    assert "No planner could place a point" in html


def test_experiments_page_shows_sla_success_by_planner_and_sla(client, alice):
    f.make_run(alice, makespan=1.0, promise=2.0)
    f.make_run(alice, makespan=3.0, promise=2.0)
    f.make_run(alice, sla="p50", makespan=1.0, promise=2.0)
    response = client.get("/experiments/")
    matrix = trace(figures_in(response)["matrix"], "matrix")
    assert matrix["x"] == ["p50", "p90"] and matrix["y"] == ["uniform"] and matrix["z"] == [[100.0, 50.0]]
    assert "synthetic-diamond" in response.content.decode()


def test_launch_form_rejects_bad_input_and_stores_nothing(client, alice):
    page = client.get("/launch/").content.decode()
    assert "tree_reduction" in page and "n=64" in page
    cases = [
        ({"sla": "p100"}, "is not &#x27;average&#x27; or a percentile"),
        ({"params": "n=3"}, "power of two"),
        ({"params": "zz=1"}, "has no parameter &#x27;zz&#x27;"),
        ({"params": "n=abc"}, "must be int"),
        ({"params": "n"}, "is not name=value"),
        ({"planner": "nope"}, "Select a valid choice"),
    ]
    for change, message in cases:
        data = {"workflow": "tree_reduction", "params": "", "planner": "wukong", "sla": "p90"} | change
        response = client.post("/launch/", data)
        assert response.status_code == 200 and message in response.content.decode(), change
    assert WorkflowRun.objects.count() == 0 and Workflow.objects.count() == 0


def test_plotly_js_is_a_static_file_from_the_installed_package(tmp_path, settings):
    import plotly

    found = finders.find("webui/plotly.min.js")
    assert found and found.startswith(str(__import__("pathlib").Path(plotly.__file__).parent))
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", verbosity=0)
    copied = tmp_path / "webui" / "plotly.min.js"
    assert copied.stat().st_size > 1_000_000 and b"plotly" in copied.read_bytes()[:2000].lower()
    assert reverse("webui:runs") == "/"


def test_failed_run_page_shows_the_error_and_settled_tasks(client, alice):
    run = f.make_run(alice, status="failed", makespan=None)
    WorkflowRun.objects.filter(pk=run.pk).update(error="ValueError: boom on 1", failed_node="b")
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Error in b" in html and "ValueError: boom on 1" in html
    assert 'data-finished="true"' in html
    assert "observed critical path is known once the run has succeeded" in html
    assert re.search(r'<td title="tests.taskfns.inc">inc</td><td class="num">2</td>', html)


def test_launch_page_warns_when_no_worker_serves_the_queues(client, alice, redis_server):
    # No cluster in this test: every resource-config queue is unserved.
    html = client.get("/launch/").content.decode()
    assert 'id="unserved"' in html and router.queue_for(2048) in html
