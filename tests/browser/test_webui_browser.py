"""The web UI in a real browser, on the real cluster: log in, launch, watch live, analyse, compare."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from experiments.runner import submit_library
from orchestrator import planning
from orchestrator.celery import app
from orchestrator.core.router import queue_for
from orchestrator.models import TaskRun, WorkflowRun

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# How many SVG points Plotly drew for the trace tagged ``meta`` (markers of a scatter, bars of a bar trace).
SVG_POINTS = """([id, meta]) => {
  const gd = document.getElementById(id);
  const index = gd.data.findIndex(t => t.meta === meta);
  if (index < 0) return -1;
  const kind = gd.data[index].type === 'bar' ? 'bar' : 'scatter';
  const same = gd.data.slice(0, index).filter(t => (t.type === 'bar' ? 'bar' : 'scatter') === kind).length;
  const layer = gd.querySelector(kind === 'bar' ? '.barlayer' : '.scatterlayer');
  const group = layer.querySelectorAll(':scope > .trace')[same];
  return group ? group.querySelectorAll(kind === 'bar' ? '.point' : 'path.point').length : -1;
}"""


def login(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    assert "/accounts/login/" in page.url  # every page needs a login
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


@pytest.fixture
def user(live):
    return get_user_model().objects.create_user("carol", password="carol-pw-123")


def test_launch_tree_reduction_and_watch_it_finish_live(live, live_server, page, shot, user):
    base = live_server.url
    login(page, base, "carol", "carol-pw-123")
    assert "No runs yet" in page.inner_text("main")
    shot(page, "01-runs-empty")

    page.goto(base + "/launch/")
    page.select_option("#id_workflow", "tree_reduction")
    assert page.input_value("#id_params") == "n=64"
    page.select_option("#id_planner", "wukong")
    page.fill("#id_sla", "p90")
    shot(page, "02-launch")

    # Hold the run's queue so the page is certainly seen live, then let the workers go.
    queue = queue_for(2048)
    worker = live.worker_name(2048)
    assert app.control.cancel_consumer(queue, destination=[worker], reply=True, timeout=10), "worker did not reply"
    try:
        page.click("#launch-form button[type=submit]")
        page.wait_for_url(base + "/runs/*/")
        run = WorkflowRun.objects.get(owner=user)
        assert page.url == f"{base}/runs/{run.pk}/"
        assert page.get_attribute("#run-body", "data-finished") == "false"
        assert page.inner_text("[data-live-status]") == "running"
        assert "0 / 63 tasks done" in page.inner_text("[data-live-progress]")
        page.wait_for_selector("#fig-dag .scatterlayer")
        assert page.evaluate(SVG_POINTS, ["fig-dag", "nodes"]) == 63
        shot(page, "03-run-live")
        page.evaluate("window.__sameDocument = 'yes'")
    finally:
        app.control.add_consumer(queue, destination=[worker], reply=True, timeout=10)

    page.wait_for_selector("[data-live-status].status-succeeded", timeout=120_000)
    assert page.evaluate("window.__sameDocument") == "yes"  # no reload: the page updated itself
    page.wait_for_selector("#fig-gantt .barlayer")
    run.refresh_from_db()
    assert run.status == "succeeded" and run.result_preview == 2016

    # DAG: a marker per task; the observed critical path runs through the 6 layers.
    assert page.evaluate(SVG_POINTS, ["fig-dag", "nodes"]) == 63
    # drawn (-1: no such trace or SVG group) as a dashed line, without markers
    assert page.evaluate(SVG_POINTS, ["fig-dag", "observed-path"]) == 0
    path_edges = page.evaluate("""() => document.getElementById('fig-dag').data
        .find(t => t.meta === 'observed-path').x.filter(x => x !== null).length / 2""")
    assert path_edges == 5
    # Gantt: one exec bar per task that executed, one row per logical worker that ran tasks.
    tasks = TaskRun.objects.filter(run=run)
    executed = tasks.filter(exec_s__gt=0).count()
    assert executed == 63
    assert page.evaluate(SVG_POINTS, ["fig-gantt", "observed:exec"]) == executed
    rows = page.evaluate("() => document.getElementById('fig-gantt').layout.yaxis.categoryarray.length")
    assert rows >= len(set(tasks.values_list("worker_id", flat=True)))
    assert page.locator("#task-table tbody tr").count() == 63
    assert page.locator("#task-table .badge.status-succeeded").count() == 63
    assert page.inner_text("[data-live-status]") == "succeeded"
    assert "2016" in page.inner_text("main")
    shot(page, "04-run-succeeded")

    page.goto(base + "/")
    assert page.locator("#runs-table tbody tr").count() == 1
    shot(page, "05-runs")


def test_workflow_analysis_and_planner_comparison_after_several_runs(live, live_server, page, shot, user):
    handles = [
        submit_library("tree_reduction", planner=p, sla=s, params={}, owner=user)[0]
        for p, s in (("wukong", "p90"), ("wukong", "p90"), ("wukong", "p50"))
    ]
    for h in handles:
        assert h.wait(timeout=120) == "succeeded"
    # planned once those are done: wukong-opt has their history to promise from
    handles.append(submit_library("tree_reduction", planner="wukong-opt", sla="p90", params={}, owner=user)[0])
    assert handles[-1].wait(timeout=120) == "succeeded"
    workflow_id = WorkflowRun.objects.get(pk=handles[0].id).workflow_id
    base = live_server.url
    login(page, base, "carol", "carol-pw-123")

    page.goto(f"{base}/workflows/{workflow_id}/")
    page.wait_for_selector("#fig-makespan .boxlayer")
    assert "Statistics over 4 succeeded run(s)" in page.inner_text("main")
    for label, n in (("wukong · p50", 1), ("wukong · p90", 2), ("wukong-opt · p90", 1)):
        assert (
            page.evaluate(
                SVG_POINTS.replace("'bar'", "'box'").replace(".barlayer", ".boxlayer"), ["fig-makespan", f"box:{label}"]
            )
            == n
        ), label
    for fig in ("fig-gb", "fig-breakdown", "fig-warmcold"):
        page.wait_for_selector(f"#{fig} .main-svg")
    # WUKONG promises nothing; wukong-opt simulates where its executors run each task and promises
    promised = [WorkflowRun.objects.get(pk=h.id).predicted_makespan_s for h in handles]
    assert promised[:3] == [None, None, None] and promised[3] > 0
    assert "No run made a promise yet" not in page.inner_text("main")
    shot(page, "06-workflow-analysis")

    page.goto(f"{base}/workflows/{workflow_id}/preview/?sla=p50&sla=p90")
    page.wait_for_selector("#fig-pareto .scatterlayer")
    for name in planning.names():
        points = page.evaluate(SVG_POINTS, ["fig-pareto", f"planner:{name}"])
        assert points >= 1, f"no point for planner {name} on the compare-planners page"
    assert page.locator("#preview-table tbody tr").count() == 2 * len(planning.names())
    shot(page, "07-compare-planners")

    page.goto(f"{base}/experiments/")
    assert "SLA success by planner × SLA" in page.inner_text("main") and "Campaigns" in page.inner_text("main")
    shot(page, "08-experiments")
    page.goto(f"{base}/workflows/")
    assert page.locator("table tbody tr").count() == 1
    shot(page, "09-workflows")


def test_plan_against_reality_is_drawn_for_a_predicting_plan(live_server, transactional_db, page, shot):
    """A run whose plan assigned workers and predicted timings (synthetic rows, as predicting planners
    write them): planned bars beside observed ones, both critical paths, coloured differences."""
    from tests.webui import factories

    owner = get_user_model().objects.create_user("dave", password="dave-pw-123")
    run = factories.make_run(owner)
    base = live_server.url
    login(page, base, "dave", "dave-pw-123")
    page.goto(f"{base}/runs/{run.pk}/")
    page.wait_for_selector("#fig-gantt .barlayer")
    assert page.evaluate(SVG_POINTS, ["fig-dag", "nodes"]) == 4
    assert page.evaluate(SVG_POINTS, ["fig-gantt", "observed:exec"]) == 4
    assert page.evaluate(SVG_POINTS, ["fig-gantt", "planned:exec"]) == 4
    assert page.evaluate(SVG_POINTS, ["fig-dag", "planned-path"]) == 0  # a line trace: no markers, but drawn
    assert page.locator("#fig-dag .scatterlayer .trace .js-line").count() >= 3  # edges + both paths
    assert page.locator("#task-table td.diff-bad").count() >= 1
    assert page.locator("#task-table td.diff-good").count() >= 1
    page.click("text=colour: worker")
    colors = page.evaluate("""() => { const gd = document.getElementById('fig-dag');
        const t = gd.data.find(t => t.meta === 'nodes'); return t.marker.color; }""")
    assert len(set(colors)) == 2  # two logical workers
    shot(page, "10-run-plan-vs-reality")
