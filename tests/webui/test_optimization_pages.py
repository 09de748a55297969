"""The optimization dashboards through Django's test client, from rows shaped as the runtime writes them.

Clustering and streaming are not built yet: their records here have the shape the runtime will write
(tests/webui/factories.py ``OPT_TASKS``/``OPT_RUN``). Real runs drawing these pages are in
tests/browser/test_optimization_dashboards.py.
"""

import re

import pytest

from orchestrator.models import WorkflowRun
from tests.webui import factories as f
from tests.webui.test_pages import alice, figures_in, trace  # noqa: F401  (alice: a fixture)

pytestmark = pytest.mark.django_db


def test_run_page_shows_what_each_optimization_did(client, alice):  # noqa: F811
    run = f.add_optimizations(f.make_run(alice, planner="uniform-opt"))
    response = client.get(f"/runs/{run.pk}/")
    html = response.content.decode()
    figs = figures_in(response)
    assert {"prewarm", "taskparts"} <= set(figs)
    # PreWarm: the ping left 0.04 s before c's branch was picked up (0.05 s after the run started); a hit.
    assert trace(figs["prewarm"], "prewarm:ping")["x"] == [pytest.approx(0.01)]
    assert trace(figs["prewarm"], "prewarm:hit")["x"] == [pytest.approx(0.05)]
    assert "prewarm:miss" not in {t.get("meta") for t in figs["prewarm"]["data"]}
    assert re.search(r'id="prewarm-table".*?<td>c</td><td>a</td>.*?hit', html, re.S)
    # PreLoad: d's planned inputs, b fetched early by the thread, c waited for at d's start.
    row = re.search(r'id="preload-table".*?</table>', html, re.S).group(0)
    assert "b: early" in row and "c: waited" in row and "how-early" in row and "how-waited" in row
    # Clustering and streaming cards and tables; the clustered child and the duplicate marked on the DAG.
    card = html[html.index('id="card-clustering"') :][:500]
    assert "1 clustered" in card and "3.0 MiB not uploaded" in card and "delayed I/O 1 / 1 picked up" in card
    assert "4.0 KiB streamed" in html[html.index('id="card-streaming"') :][:300]
    assert re.search(r'id="clustering-table".*?<td>a</td><td>w1</td><td>b</td><td class="num">3.0 MiB</td>', html, re.S)
    assert re.search(
        r'id="streaming-table".*?<td>a</td><td class="num">4.0 KiB</td><td class="num">4</td><td>c</td>', html, re.S
    )
    dag = figs["dag"]
    assert len(trace(dag, "clustered")["x"]) == 1 and trace(dag, "dups")["text"] == ["dup"]
    assert [x for x in trace(dag, "cluster-edges")["x"] if x is not None] != []
    # Time per task: d waited 0.05 s for inputs, all of it downloading; every task has an exec bar.
    parts = figs["taskparts"]
    assert trace(parts, "task:exec")["y"] == ["a", "b", "c", "d"]
    assert dict(zip(trace(parts, "task:download")["y"], trace(parts, "task:download")["x"]))["d"] == pytest.approx(0.05)


def test_run_page_without_optimizations_says_none_happened(client, alice):  # noqa: F811
    run = f.make_run(alice, planner="wukong", predicted=False, promise=None)
    response = client.get(f"/runs/{run.pk}/")
    html = response.content.decode()
    for text in (
        "This run's plan used no optimization.",
        "No preloads in this run.",
        "No pre-warm pings in this run.",
        "No clustered tasks in this run.",
        "No streamed outputs in this run.",
    ):
        assert text in html
    assert 'id="card-clustering"' not in html and 'id="card-streaming"' not in html
    assert "prewarm" not in figures_in(response)
    assert "clustered" not in {t.get("meta") for t in figures_in(response)["dag"]["data"]}


def test_workflow_page_compares_optimized_runs_with_plain_ones(client, alice):  # noqa: F811
    wf = f.workflow()
    for makespan in (4.0, 6.0):
        f.make_run(alice, makespan=makespan, wf=wf)  # uniform, nothing used: the "off" side
    f.add_optimizations(f.make_run(alice, planner="uniform-opt", makespan=4.0, wf=wf))
    forced = f.add_optimizations(f.make_run(alice, planner="uniform", makespan=2.5, gb_seconds=3.0, wf=wf))
    f.make_run(alice, planner="wukong-opt", predicted=False, promise=None, makespan=3.0, wf=wf)  # no wukong: no pair
    response = client.get(f"/workflows/{wf.pk}/")
    html = response.content.decode()
    figs = figures_in(response)
    assert {"onoff", "optcounts", "preload", "pings", "warmcold"} <= set(figs)
    opt = trace(figs["onoff"], "onoff:uniform-opt vs uniform")
    changes = dict(zip(opt["x"], opt["y"]))
    assert changes["makespan (s)"] == pytest.approx(-20.0)  # median 5.0 off → 4.0 on
    assert changes["GB-seconds"] == pytest.approx(0.0)
    forced_changes = dict(zip(*(trace(figs["onoff"], "onoff:uniform + preload+prewarm vs uniform")[k] for k in "xy")))
    assert forced_changes["makespan (s)"] == pytest.approx(-50.0)
    assert forced_changes["GB-seconds"] == pytest.approx(100.0)
    assert not any(t["meta"].startswith("onoff:wukong") for t in figs["onoff"]["data"])
    # Bytes written: uploaded outputs only (8 B from each of a, c, d).
    assert re.search(r'id="onoff-table".*?24 B → 24 B', html, re.S)
    # Median counts: the -opt planners only; what never happened in any of their runs is left out.
    counts = trace(figs["optcounts"], "optcount:uniform-opt")
    assert dict(zip(counts["x"], counts["y"])) == {
        "preloaded inputs": 1,
        "pre-warm pings": 1,
        "pre-warm hits": 1,
        "duplicates": 1,
        "duplicates won": 1,
        "clustered tasks": 1,
        "delayed-I/O pick-ups": 1,
        "streamed outputs": 1,
    }
    wukong_opt = trace(figs["optcounts"], "optcount:wukong-opt")
    assert set(wukong_opt["y"]) == {0}
    # PreLoad: d's inputs were ready at its start + input wait, in the two runs that preloaded and the three
    # whose plans had no PreLoad (the plain uniform ones and wukong-opt).
    assert trace(figs["preload"], "preload:with")["y"] == [pytest.approx(3.75)] * 2
    assert len(trace(figs["preload"], "preload:without")["y"]) == 3
    # PreWarm across runs: both optimized runs' pings, hits.
    assert len(trace(figs["pings"], "pings:hit")["x"]) == 2
    assert re.search(
        r'id="prewarm-rate-table".*?<td>uniform-opt</td><td class="num">1</td><td class="num">1</td>'
        r'<td class="num">100 %</td>',
        html,
        re.S,
    )
    warmcold = figs["warmcold"]
    assert dict(zip(trace(warmcold, "startups:cold")["x"], trace(warmcold, "startups:cold")["text"])) == {
        "uniform": "6",
        "uniform-opt": "2",
        "wukong-opt": "2",
    }
    assert WorkflowRun.objects.get(pk=forced.pk).planner == "uniform"


def test_workflow_page_without_optimized_runs_says_what_to_run(client, alice):  # noqa: F811
    wf = f.workflow()
    f.make_run(alice, wf=wf)
    html = client.get(f"/workflows/{wf.pk}/").content.decode()
    assert 'id="onoff-none"' in html and 'id="optcounts-none"' in html and "no <code>-opt</code> runs yet" in html
    assert 'id="preload-starts-none"' in html and 'id="pings-none"' in html
