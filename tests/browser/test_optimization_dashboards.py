"""The optimization dashboards in a real browser, drawn from real runs on the real cluster.

Three small workflows, each run under ``uniform`` first (history, and the
"off" side): a fan-in of big inputs arriving one after another, then under
``uniform-opt`` (PreLoad fetches them early); a straggler two consumers wait
for, then with TaskDup forced (one of them duplicates it); a long stage
followed by a branch whose pool has gone cold, then under ``uniform-opt``
(PreWarm pings it). One test, so the runs serve every assertion.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

from orchestrator.core import graph as graph_mod
from orchestrator.core.authoring import build_graph
from orchestrator.models import TaskRun, WorkflowRun
from slaflow import submit
from store import pools
from tests import taskfns as t
from tests.browser.test_webui_browser import SVG_POINTS, login
from tests.integration.test_optimizations import race_graph
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

BOX_POINTS = SVG_POINTS.replace("'bar'", "'box'").replace(".barlayer", ".boxlayer")
# Sum of a trace's values (bars' lengths) as the browser holds them.
TRACE_SUM = """([id, meta]) => { const tr = document.getElementById(id).data.find(t => t.meta === meta);
  if (!tr) return -1; const v = tr.orientation === 'h' ? tr.x : tr.y; return v.reduce((a, b) => a + b, 0); }"""


TRACE_FIELD = """([id, meta, field]) => document.getElementById(id).data.find(t => t.meta === meta)[field]"""


def fan_in():
    r"""value → 4 × blob (2 MB after 0.5 s + 0.3 s·i, a worker each) → gather: the fan-in's worker can fetch
    the early outputs while the last producer still runs."""
    root = t.value(3)
    return t.gather([t.blob(root, 2, seconds=0.5 + 0.3 * i) for i in range(4)])


def cold_later_branch():
    """value → slow_inc (3 s) → 2 × slow_inc (1 s) → total: the second 1 s task needs a branch of its own,
    on a pool that has retired its idle processes during the long task."""
    mid = t.slow_inc(t.value(1), 3.0)
    return t.total([t.slow_inc(mid, 1.0), t.slow_inc(mid, 1.0)])


def _run(sink, name: str, planner: str, optimizations=None) -> WorkflowRun:
    handle = submit(sink, name=name, planner=planner, optimizations=optimizations)
    assert handle.wait(timeout=120) == "succeeded"
    return WorkflowRun.objects.get(pk=handle.id)


def _pool_down_to_one(run: WorkflowRun, settings) -> None:
    mb = run.plan.data["tasks"]["value-0"]["memory_mb"]
    until(
        lambda: pools.read_pools().get(mb, 0) == 1,
        timeout_s=settings.SLAFLOW_KEEPALIVE_S + 30,
        what=f"the {mb} MB pool down to one process",
    )


def points(page, fig: str, meta: str, *, box: bool = False) -> int:
    """Markers (or bars, boxes' points) the browser drew for the trace tagged ``meta``; 0 if it has none."""
    return max(0, page.evaluate(BOX_POINTS if box else SVG_POINTS, [fig, meta]))


def test_optimization_dashboards_draw_real_runs(live, live_server, page, shot, settings, uncapped_executors):
    # Its runs' tasks sleep (a straggler is a slow node's task): they run side by side, as on several hosts,
    # not one per core of this one (``uncapped_executors``: no executor cap, no core slots).
    settings.SLAFLOW_PRELOAD_MIN_DOWNLOAD_S = 0.0  # 2 MB inputs download in ms here: preload them anyway
    plain = [_run(fan_in(), "dash-fan-in", "uniform") for _ in range(2)]
    opt = _run(fan_in(), "dash-fan-in", "uniform-opt")
    sink = graph_mod.sink(build_graph(fan_in()))
    preloaded = TaskRun.objects.get(run=opt, node_id=sink).optimizations.get("preload") or []
    assert preloaded, f"PreLoad did not act: {opt.optimizations}"

    warm_history = [_run(cold_later_branch(), "dash-prewarm", "uniform") for _ in range(2)]
    _pool_down_to_one(warm_history[-1], settings)
    warmed = _run(cold_later_branch(), "dash-prewarm", "uniform-opt")
    pings = (warmed.optimizations.get("prewarm") or {}).get("pings") or {}
    assert pings, f"no pre-warm ping: {warmed.optimizations}"

    # A straggler two consumers on other workers wait for (tests/integration/test_optimizations.py): one
    # of their workers runs it itself (TaskDup, forced on the plain planner).
    tag = f"dash-race-{time.time_ns()}"
    for k in range(2):  # history without a straggler
        _run(race_graph(f"{tag}-h{k}", 0.0), "dash-race", "uniform")
    duplicated = _run(race_graph(tag, 3.0), "dash-race", "uniform", optimizations=["taskdup"])
    dups = [r.node_id for r in TaskRun.objects.filter(run=duplicated) if r.optimizations.get("duplicated")]
    assert dups, f"TaskDup did not act: {duplicated.optimizations}"

    get_user_model().objects.create_user("olga", password="olga-pw-123", is_staff=True)
    base = live_server.url
    login(page, base, "olga", "olga-pw-123")

    # Run page, PreLoad: the fan-in's inputs, each fetched early (by the preloading thread) or waited for.
    page.goto(f"{base}/runs/{opt.pk}/")
    page.wait_for_selector("#fig-taskparts .barlayer")
    row = page.locator("#preload-table tbody tr", has_text=sink)
    assert row.count() == 1
    assert row.locator(".chip.how-early").count() == len(preloaded)
    assert points(page, "fig-taskparts", "task:exec") == TaskRun.objects.filter(run=opt).count()
    waited = sum(r.input_wait_s or 0 for r in TaskRun.objects.filter(run=opt))
    assert page.evaluate(TRACE_SUM, ["fig-taskparts", "task:waiting"]) + page.evaluate(
        TRACE_SUM, ["fig-taskparts", "task:download"]
    ) == pytest.approx(waited, abs=1e-6)
    assert points(page, "fig-gantt", "observed:input wait") >= 1  # the Gantt draws input wait too
    text = page.inner_text("#opt-detail")
    assert "No clustered tasks in this run." in text and "No streamed outputs in this run." in text
    page.locator("#opt-detail").scroll_into_view_if_needed()
    shot(page, "opt-01-run-preload")

    # Run page, PreWarm: a ping marker and a target-start marker per ping, hit or miss.
    page.goto(f"{base}/runs/{warmed.pk}/")
    page.wait_for_selector("#fig-prewarm .scatterlayer")
    timed = [p for p in pings.values() if p.get("gap_s") is not None]
    assert timed, pings
    assert points(page, "fig-prewarm", "prewarm:ping") == len(timed)
    hits = sum(1 for p in timed if p["hit"])
    assert points(page, "fig-prewarm", "prewarm:hit") == hits
    assert points(page, "fig-prewarm", "prewarm:miss") == len(timed) - hits
    assert page.locator("#prewarm-table tbody tr").count() == len(pings)
    shot(page, "opt-02-run-prewarm")

    # Run page, TaskDup: the duplicated producer ringed on the DAG.
    page.goto(f"{base}/runs/{duplicated.pk}/")
    page.wait_for_selector("#fig-dag .scatterlayer")
    assert points(page, "fig-dag", "dups") == len(dups)
    assert page.evaluate(TRACE_FIELD, ["fig-dag", "dups", "text"]) == ["dup"] * len(dups)
    assert f"on the DAG: {', '.join(dups)}" in page.inner_text("#card-taskdup")
    shot(page, "opt-05-run-taskdup")

    # Workflow page of the fan-in: PreLoad's ready times against the plain runs', on vs off, counts.
    page.goto(f"{base}/workflows/{opt.workflow_id}/")
    page.wait_for_selector("#fig-onoff .barlayer")
    assert points(page, "fig-preload", "preload:with", box=True) == 1
    assert points(page, "fig-preload", "preload:without", box=True) == len(plain)
    # A bar per metric whose change is measurable (makespan and GB-s always; input wait unless negligible).
    compared = page.evaluate(TRACE_FIELD, ["fig-onoff", "onoff:uniform-opt vs uniform", "x"])
    assert {"makespan (s)", "GB-seconds"} <= set(compared)
    assert points(page, "fig-onoff", "onoff:uniform-opt vs uniform") == len(compared)
    assert "uniform-opt vs uniform" in page.inner_text("#onoff-table")
    assert points(page, "fig-optcounts", "optcount:uniform-opt") >= 1
    assert points(page, "fig-warmcold", "startups:cold") == 2  # both planners had cold start-ups
    shot(page, "opt-03-workflow-fan-in")

    # Workflow page of the straggler: the forced optimization against the plain planner.
    page.goto(f"{base}/workflows/{duplicated.workflow_id}/")
    page.wait_for_selector("#fig-onoff .barlayer")
    compared = page.evaluate(TRACE_FIELD, ["fig-onoff", "onoff:uniform + taskdup vs uniform", "x"])
    assert {"makespan (s)", "GB-seconds"} <= set(compared)
    assert points(page, "fig-onoff", "onoff:uniform + taskdup vs uniform") == len(compared)
    assert "optcounts-none" in page.content()  # no -opt run of this workflow
    shot(page, "opt-06-workflow-taskdup")

    # Workflow page of the pre-warmed workflow: every ping against its target's start, the hit rate.
    page.goto(f"{base}/workflows/{warmed.workflow_id}/")
    page.wait_for_selector("#fig-pings .scatterlayer")
    assert points(page, "fig-pings", "pings:hit") + points(page, "fig-pings", "pings:miss") == len(timed)
    rate = page.locator("#prewarm-rate-table tbody tr", has_text="uniform-opt")
    assert rate.count() == 1 and f"{hits}" in rate.locator("td").nth(2).inner_text()
    counts = page.evaluate(TRACE_FIELD, ["fig-warmcold", "startups:warm (pre-warmed)", "text"])
    planners = page.evaluate(TRACE_FIELD, ["fig-warmcold", "startups:warm (pre-warmed)", "x"])
    assert dict(zip(planners, counts)) == {"uniform": "0", "uniform-opt": str(hits)}  # only the pre-warming planner
    shot(page, "opt-04-workflow-prewarm")


def test_clustering_and_streaming_dashboards_draw_real_runs(live, live_server, page, shot, settings):
    """A big output's fan-out under wukong, then wukong-opt (clustering and delayed I/O act); a 20 MB output
    read by two executors with streaming forced (one of them reads it as it is written)."""
    from tests.integration.test_optimizations import clustered_graph

    settings.SLAFLOW_DELAYED_IO_S = 5.0  # the side task ends ~0.3 s after the big one: the wait covers it
    settings.SLAFLOW_SHM_MIN_BYTES = 0  # planned as where big outputs travel through Redis: the rules choose them
    plain = _run(clustered_graph(f"dash-cl-{time.time_ns()}"), "dash-cluster", "wukong")
    clustered = _run(clustered_graph(f"dash-cl-{time.time_ns()}"), "dash-cluster", "wukong-opt")
    summary = clustered.optimizations["clustering"]
    assert summary["tasks"] == 5 and summary["delayed_hits"] == 1, summary
    big = t.payload(t.value(6), 20, seconds=0.0)
    streamed = _run(
        t.gather([t.digest(big, big, seconds=3.0), t.digest(big, big, seconds=3.0)]),
        "dash-stream",
        "wukong",
        optimizations=["streaming"],
    )
    assert streamed.optimizations["streaming"]["consumers"] == 1, streamed.optimizations

    get_user_model().objects.create_user("petra", password="petra-pw-123", is_staff=True)
    base = live_server.url
    login(page, base, "petra", "petra-pw-123")

    # Run page, clustering: the children marked on the DAG beside their producer, the card and the table.
    page.goto(f"{base}/runs/{clustered.pk}/")
    page.wait_for_selector("#fig-dag .scatterlayer")
    assert points(page, "fig-dag", "clustered") == summary["tasks"]
    card = page.inner_text("#card-clustering")
    assert "5 clustered" in card and "delayed I/O 1 / 1 picked up" in card
    producer = next(r for r in TaskRun.objects.filter(run=clustered) if r.optimizations.get("clustered_children"))
    row = page.locator("#clustering-table tbody tr", has_text=producer.node_id)
    assert row.count() == 1 and all(c in row.inner_text() for c in producer.optimizations["clustered_children"])
    shot(page, "opt-07-run-clustering")

    # Workflow page: wukong-opt against wukong (bytes written among the metrics), and its median counts.
    page.goto(f"{base}/workflows/{clustered.workflow_id}/")
    page.wait_for_selector("#fig-onoff .barlayer")
    compared = page.evaluate(TRACE_FIELD, ["fig-onoff", "onoff:wukong-opt vs wukong", "x"])
    assert {"makespan (s)", "GB-seconds"} <= set(compared) and any("written" in m for m in compared), compared
    assert points(page, "fig-optcounts", "optcount:wukong-opt") >= 1
    assert page.locator(f"a[href='/runs/{plain.pk}/']").count() >= 1  # the plain run is listed beside it
    shot(page, "opt-08-workflow-clustering")

    # Run page, streaming: the card and the producer's row, naming the consumer that took the stream.
    page.goto(f"{base}/runs/{streamed.pk}/")
    page.wait_for_selector("#card-streaming")
    assert "1 output(s)" in page.inner_text("#card-streaming")
    reader = next(
        r.node_id for r in TaskRun.objects.filter(run=streamed) if any(e.get("via") == "stream" for e in r.inputs)
    )
    assert reader in page.locator("#streaming-table tbody tr").inner_text()
    shot(page, "opt-09-run-streaming")
