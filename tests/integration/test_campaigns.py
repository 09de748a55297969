"""SLA experiment campaigns on real workers: the command, its files, resume after a real Ctrl-C, the API."""

import csv
import json
import os
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from orchestrator.models import Experiment, ExperimentRun, WorkflowRun
from tests.apiutil import client_for
from tests.conftest import cluster_env
from tests.waiting import until

pytestmark = [pytest.mark.integration]
MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
TINY = (
    "--workflows diamond tree_reduction --planners uniform wukong --slas p50 p90 "
    "--iterations 2 --warmup 1 --params tree_reduction:n=8 --seed 3"
).split()


def test_a_tiny_campaign_writes_its_rows_report_and_summary(live, tmp_path):
    out = tmp_path / "camp"
    stdout = StringIO()
    call_command("run_sla_experiments", *TINY, "--out", str(out), stdout=stdout, stderr=StringIO())
    exp = Experiment.objects.get(out_dir=str(out))
    assert exp.status == "finished" and exp.done_runs == exp.total_runs == 2 * 2 * 2 * 2 + 2 * 2
    assert exp.machine["cores"] == os.cpu_count() and "limits_enforced" in exp.machine and exp.wall_s > 0
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and sum(r["warmup"] == "True" for r in rows) == 4
    measured = [r for r in rows if r["warmup"] == "False"]
    assert {(r["workflow"], r["planner"], r["sla"]) for r in measured} == {
        (w, p, s) for w in ("diamond", "tree_reduction") for p in ("uniform", "wukong") for s in ("p50", "p90")
    }
    assert all(r["status"] == "done" and r["run_status"] == "succeeded" and float(r["makespan_s"]) > 0 for r in rows)
    for column in (
        "promise_s",
        "within_promise",
        "typical_s",
        "gb_seconds",
        "cpu_seconds",
        "cold_starts",
        "warm_starts",
        "optimizations",
        "prior_within",
        "error_makespan",
    ):
        assert column in rows[0]
    uniform = [r for r in measured if r["planner"] == "uniform"]
    assert all(r["promise_s"] for r in uniform)  # planned after the warm-ups: a promise each
    assert json.loads(rows[0]["params"]) in ({"x": 1}, {"n": 8})
    page = (out / "report.html").read_text()
    for name in (
        "success",
        "prior",
        "calibration",
        "errors",
        "warmcold",
        "optimizations",
        "makespan:diamond",
        "gbs:tree_reduction",
        "pareto:diamond",
    ):
        assert f'id="fig-{name}"' in page
    assert "Plotly.newPlot" in page and "https://" not in page.split("<script>")[0]  # nothing fetched from a CDN
    printed = stdout.getvalue()
    assert "tree_reduction     uniform          p90" in printed and "runs done" in printed
    # Every scheduled run has exactly one run of its own.
    assert ExperimentRun.objects.filter(experiment=exp, run__isnull=True).count() == 0
    assert len(set(ExperimentRun.objects.filter(experiment=exp).values_list("run_id", flat=True))) == 20


def test_bad_arguments_are_refused_before_anything_runs(live, tmp_path):
    before = (Experiment.objects.count(), WorkflowRun.objects.count())
    existing = tmp_path / "exists"
    existing.mkdir()
    cases = [
        (
            ["--workflows", "nope", "--planners", "uniform", "--slas", "p50", "--out", str(tmp_path / "a")],
            "unknown workflow 'nope'",
        ),
        (
            ["--workflows", "diamond", "--planners", "bogus", "--slas", "p50", "--out", str(tmp_path / "b")],
            "unknown planner 'bogus'",
        ),
        (["--workflows", "diamond", "--planners", "uniform", "--slas", "p101", "--out", str(tmp_path / "c")], "p101"),
        (
            [
                *"--workflows diamond --planners uniform --slas p50 --iterations 0 --out".split(),
                str(tmp_path / "d"),
            ],
            "--iterations must be at least 1",
        ),
        (
            ["--workflows", "diamond", "--planners", "uniform", "--slas", "p50", "--out", str(existing)],
            "already exists: pass --resume",
        ),
        (["--workflows", "diamond", "--planners", "uniform", "--slas", "p50"], "--out DIR is required"),
        (["--resume", str(tmp_path / "nothing")], "holds no campaign"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message):
            call_command("run_sla_experiments", *args, stdout=StringIO(), stderr=StringIO())
    assert (Experiment.objects.count(), WorkflowRun.objects.count()) == before
    assert not (tmp_path / "a").exists()


def test_ctrl_c_stops_after_the_current_run_and_resume_does_no_run_twice(live, tmp_path):
    out = tmp_path / "interrupted"
    env = dict(os.environ, **cluster_env())
    proc = subprocess.Popen(
        [sys.executable, MANAGE, "run_sla_experiments", *TINY, "--out", str(out)],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        exp = until(
            lambda: Experiment.objects.filter(out_dir=str(out.resolve())).first(),
            timeout_s=60,
            what="the campaign to be stored",
        )
        until(lambda: Experiment.objects.get(pk=exp.pk).done_runs >= 3, timeout_s=120, what="three runs done")
        proc.send_signal(signal.SIGINT)  # a real Ctrl-C
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    exp.refresh_from_db()
    assert proc.returncode == 0, output
    assert exp.status == "interrupted" and 3 <= exp.done_runs < exp.total_runs, output
    assert "resume with: slaflow experiments --resume" in output
    assert "stopping after the current run" in output
    # The run in flight when Ctrl-C came was finished, not abandoned.
    assert not ExperimentRun.objects.filter(experiment=exp, status="pending", run__isnull=False).exists()
    done_before = dict(ExperimentRun.objects.filter(experiment=exp, status="done").values_list("position", "run_id"))

    call_command("run_sla_experiments", "--resume", str(out), stdout=StringIO(), stderr=StringIO())
    exp.refresh_from_db()
    assert exp.status == "finished" and exp.done_runs == exp.total_runs
    after = dict(ExperimentRun.objects.filter(experiment=exp).values_list("position", "run_id"))
    assert all(after[pos] == run_id for pos, run_id in done_before.items())  # nothing done again
    assert len(set(after.values())) == exp.total_runs and None not in after.values()  # nothing skipped
    with open(out / "results.csv") as fh:
        assert len(list(csv.DictReader(fh))) == exp.total_runs
    with pytest.raises(CommandError, match="is finished: nothing to resume"):
        call_command("run_sla_experiments", "--resume", str(out), stdout=StringIO(), stderr=StringIO())


def test_the_api_lists_campaigns_and_summarises_each_cell(live, tmp_path):
    out = tmp_path / "api"
    call_command(
        "run_sla_experiments",
        *"--workflows diamond --planners uniform --slas p50 --iterations 2 --warmup 1 --out".split(),
        str(out),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    exp = Experiment.objects.get(out_dir=str(out))
    staff, other = client_for("ops", staff=True), client_for("nobody")
    listed = staff.get("/api/experiments/").json()
    assert exp.pk in [e["id"] for e in listed["results"]]
    assert other.get("/api/experiments/").json()["count"] == 0  # a CLI campaign has no owner: staff only
    assert other.get(f"/api/experiments/{exp.pk}/").status_code == 404
    detail = staff.get(f"/api/experiments/{exp.pk}/").json()
    assert detail["status"] == "finished" and detail["total_runs"] == 3 and detail["seed"] == 0
    (cell,) = detail["cells"]
    assert (cell["workflow"], cell["planner"], cell["sla"], cell["done"]) == ("diamond", "uniform", "p50", 2)
    assert cell["judged"] == 2 and 0 <= cell["within"] <= 2 and cell["median_makespan_s"] > 0
    assert detail["facts"]["runs"] == 3


def test_a_campaign_launched_from_the_web_page_runs_in_the_background(live, client, django_user_model, monkeypatch):
    for key, value in cluster_env().items():  # the web server's environment: the background process inherits it
        monkeypatch.setenv(key, value)
    user = django_user_model.objects.create_user("eve", password="eve-pw-1234")
    client.force_login(user)
    page = client.get("/experiments/")
    assert page.status_code == 200 and b"Launch a campaign" in page.content
    bad = client.post(
        "/experiments/",
        {"workflows": ["diamond"], "planners": ["uniform"], "slas": "p500", "iterations": 1, "warmup": 0, "seed": 0},
    )
    assert bad.status_code == 200 and b"p500" in bad.content and not Experiment.objects.filter(owner=user).exists()
    resp = client.post(
        "/experiments/",
        {
            "workflows": ["diamond"],
            "planners": ["uniform", "wukong"],
            "slas": "p50",
            "iterations": 1,
            "warmup": 1,
            "seed": 4,
            "name": "web",
        },
    )
    assert resp.status_code == 302
    exp = Experiment.objects.get(owner=user)
    assert resp["Location"] == f"/experiments/{exp.pk}/"
    until(
        lambda: Experiment.objects.get(pk=exp.pk).status == "finished",
        timeout_s=120,
        what="the background campaign to finish",
    )
    page = client.get(f"/experiments/{exp.pk}/")
    assert page.status_code == 200 and b"4 / 4</b> runs done" in page.content
    assert b'id="fig-calibration"' in page.content
    csv_text = client.get(f"/experiments/{exp.pk}/results.csv").content.decode()
    assert csv_text.startswith("experiment,position,workflow") and len(csv_text.strip().splitlines()) == 5
