"""Live tracking and SLA alerts on real workers (issue 25, item 4).

A chain of ``paced`` tasks runs a few times at its usual pace (history and a promise), then once with every
task five times slower: the workers' watcher must POST ``sla_at_risk`` to a real HTTP server on 127.0.0.1
before the promise's deadline and ``sla_missed`` after it; the runs at the usual pace fire nothing.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.core import signals
from orchestrator.models import WorkflowRun
from orchestrator.planning import live as live_rule
from orchestrator.services import alerts
from slaflow import submit
from tests import taskfns as t
from tests.apiutil import client_for
from tests.waiting import until

pytestmark = [pytest.mark.integration]
TASKS = 6


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST body with the time it arrived."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((time.time(), json.loads(body), self.headers.get("Content-Type")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sla"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, run_id: int, kind: str) -> list:
        return [(at, body) for at, body, _ in self.received if body["run"] == run_id and body["kind"] == kind]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def chain():
    x = t.value(0)
    for _ in range(TASKS):
        x = t.paced(x)
    return x


def test_a_slowed_run_fires_at_risk_before_its_promise_and_missed_after_a_normal_run_nothing(
    live, redis_server, receiver
):
    redis_server.delete(t.PACE_KEY)  # 0.4 s a task
    for _ in range(3):  # history: WUKONG runs make no promise (nothing watched)
        handle = submit(chain(), name="live-chain", planner="wukong", sla="p99", webhook_url=receiver.url)
        assert handle.result(timeout=90) == TASKS
        assert handle.run.predicted_makespan_s is None and handle.run.alerts == []
    normal = []
    # Planned from that history and a little faster than it (a p99 promise from three runs of sleeps is
    # within a few ms of their makespan; a normal run at exactly their pace lands on either side of it
    # under load, and then rightly fires sla_missed): on time for sure, so nothing may fire.
    redis_server.set(t.PACE_KEY, 0.36)
    for _ in range(2):
        handle = submit(chain(), name="live-chain", planner="uniform", sla="p99", webhook_url=receiver.url)
        assert handle.result(timeout=90) == TASKS
        normal.append(handle.run)
    for run in normal:  # finished (nothing more can fire), on time: nothing fired, nothing POSTed
        print(f"normal run {run.pk}: {run.makespan_s:.3f} s, promise {run.predicted_makespan_s:.3f} s, {run.alerts}")
        assert run.makespan_s <= run.predicted_makespan_s, (run.makespan_s, run.predicted_makespan_s)
        assert run.alerts == [] and receiver.of(run.pk, live_rule.AT_RISK) == receiver.of(run.pk, "sla_missed") == []
    assert alerts.live_of(normal[-1])["will_miss"] is False

    redis_server.set(t.PACE_KEY, 2.0)  # five times slower than its history says
    slow = submit(chain(), name="live-chain", planner="uniform", sla="p99", webhook_url=receiver.url)
    run = WorkflowRun.objects.get(pk=slow.id)
    started, promise = run.started_at.timestamp(), run.predicted_makespan_s
    risk = until(lambda: receiver.of(slow.id, live_rule.AT_RISK), timeout_s=60, what="sla_at_risk POST")
    at, body = risk[0]
    assert at < started + promise, f"at risk {at - started:.2f} s in, after the promise {promise:.2f} s"
    print(
        f"\nsla_at_risk {at - started:.2f} s into the run: {started + promise - at:.2f} s before the "
        f"promise's deadline ({promise:.2f} s)"
    )
    assert body["workflow"] == "live-chain" and body["promise_s"] == pytest.approx(promise, abs=1e-3)
    assert body["predicted_makespan_s"] > promise and body["predicted_end"] > started + promise
    # While it runs, REST shows the prediction.
    api = client_for("live-watcher", staff=True).get(f"/api/runs/{slow.id}/").json()
    assert api["status"] == "running" and api["live"]["will_miss"] is True and api["live"]["final"] is False
    assert api["live"]["predicted_makespan_s"] > promise and api["live"]["updated_at"] >= started
    missed = until(lambda: receiver.of(slow.id, live_rule.MISSED), timeout_s=60, what="sla_missed POST")
    assert missed[0][0] > started + promise
    # Missed is final: the tasks not started yet go at the usual pace again (not 2 s each), and the watcher,
    # still looking while the run ends, must fire nothing more (each kind once, below).
    redis_server.set(t.PACE_KEY, 0.36)
    assert slow.result(timeout=120) == TASKS
    run.refresh_from_db()
    assert run.makespan_s > promise
    assert [a["kind"] for a in run.alerts] == [live_rule.AT_RISK, live_rule.MISSED]  # each once
    until(
        lambda: all(isinstance(a["delivery"], dict) for a in WorkflowRun.objects.get(pk=slow.id).alerts),
        what="deliveries recorded",
    )
    deliveries = [a["delivery"] for a in WorkflowRun.objects.get(pk=slow.id).alerts]
    assert all(d["status"] == 204 and d["attempts"] == 1 for d in deliveries), deliveries
    assert len(receiver.of(slow.id, live_rule.AT_RISK)) == len(receiver.of(slow.id, live_rule.MISSED)) == 1
    assert all(ctype == "application/json" for _, _, ctype in receiver.received)
    redis_server.delete(t.PACE_KEY)

    # Duration percentiles per planner × SLA (REST and the workflow's page); the run page says it missed.
    staff = client_for("live-watcher", staff=True)
    rows = staff.get(f"/api/workflows/{run.workflow_id}/durations/").json()
    assert [(r["planner"], r["sla"], r["runs"], r["promised_runs"], r["within_promise"]) for r in rows] == [
        ("uniform", "p99", 3, 3, 2),
        ("wukong", "p99", 3, 0, 0),
    ]
    spans = sorted(r.makespan_s for r in WorkflowRun.objects.filter(workflow_id=run.workflow_id, planner="uniform"))
    assert rows[0]["p50_s"] == pytest.approx(spans[1], abs=1e-3)
    assert rows[0]["p50_s"] <= rows[0]["p90_s"] <= rows[0]["p95_s"] <= rows[0]["p99_s"] <= spans[-1] + 1e-3
    assert client_for("someone-else").get(f"/api/workflows/{run.workflow_id}/durations/").status_code == 404
    from django.contrib.auth import get_user_model
    from django.test import Client

    web = Client()
    web.force_login(get_user_model().objects.get(username="live-watcher"))
    page = web.get(f"/workflows/{run.workflow_id}/").content.decode()
    assert 'id="durations-table"' in page and "uniform · p99" in page and "wukong · p99" in page
    body = web.get(f"/runs/{slow.id}/").content.decode()
    assert "data-sla-banner" in body and f"Missed its promise by {run.makespan_s - promise:.2f} s" in body
    assert "data-sla-banner" not in web.get(f"/runs/{normal[-1].pk}/").content.decode()


def test_firing_sends_the_django_signal_once_per_kind_and_posts_to_the_workflows_webhook(live, redis_server, receiver):
    from orchestrator.models import Workflow

    redis_server.delete(t.PACE_KEY)
    handle = submit(t.paced(t.value(0)), name="live-signal", planner="wukong", sla="p90")
    assert handle.result(timeout=90) == 1
    Workflow.objects.filter(runs__id=handle.id).update(webhook_url=receiver.url)  # the run sets none
    heard = []

    def hear(sender, run_id, alert, **kw):
        heard.append((sender, run_id, alert["kind"]))

    signals.sla_at_risk.connect(hear)
    signals.sla_missed.connect(hear)
    try:
        now = time.time()
        for kind, elapsed in ((live_rule.AT_RISK, 1.0), (live_rule.AT_RISK, 1.0), (live_rule.MISSED, 6.0)):
            alerts.fire(
                handle.id,
                kind,
                elapsed_s=elapsed,
                predicted_makespan_s=9.0,
                promise_s=5.0,
                started_at=now - elapsed,
                now=now,
            )
    finally:
        signals.sla_at_risk.disconnect(hear)
        signals.sla_missed.disconnect(hear)
    assert heard == [(WorkflowRun, handle.id, live_rule.AT_RISK), (WorkflowRun, handle.id, live_rule.MISSED)]
    run = WorkflowRun.objects.get(pk=handle.id)
    assert [a["kind"] for a in run.alerts] == [live_rule.AT_RISK, live_rule.MISSED]
    assert all(a["webhook_url"] == receiver.url for a in run.alerts)
    until(
        lambda: receiver.of(handle.id, live_rule.AT_RISK) and receiver.of(handle.id, live_rule.MISSED),
        what="both alerts POSTed to the workflow's webhook",
    )
    assert len(receiver.received) == 2


def test_a_webhook_that_is_not_http_is_refused_at_submission_naming_the_field(live):
    from orchestrator.models import Workflow

    api = client_for("live-submitter")
    before = WorkflowRun.objects.count(), Workflow.objects.count()
    resp = api.post(
        "/api/runs/",
        {"workflow": "tree_reduction", "params": {"n": 4}, "planner": "wukong", "webhook_url": "file:///etc/passwd"},
        format="json",
    )
    assert resp.status_code == 400 and "webhook_url" in resp.json(), resp.content
    assert (WorkflowRun.objects.count(), Workflow.objects.count()) == before


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://[::1]:8000/x",
        "http://127.0.0.1:6379/",
        "http://localhost:5432/",
    ],
)
def test_a_webhook_to_a_non_public_address_is_refused_at_submission(live, settings, url):
    """A user's webhook must not reach what only the workers reach (cloud metadata, the internal network,
    the host's own services): refused, naming the field and the setting that would allow it."""
    from orchestrator.models import Workflow

    settings.SLAFLOW_WEBHOOK_ALLOWED_NETWORKS = ()
    api = client_for("live-submitter")
    before = WorkflowRun.objects.count(), Workflow.objects.count()
    resp = api.post(
        "/api/runs/",
        {"workflow": "tree_reduction", "params": {"n": 4}, "planner": "wukong", "webhook_url": url},
        format="json",
    )
    assert resp.status_code == 400, resp.content
    assert "SLAFLOW_WEBHOOK_ALLOWED_NETWORKS" in str(resp.json()["webhook_url"])
    assert (WorkflowRun.objects.count(), Workflow.objects.count()) == before


def test_a_name_resolving_to_a_non_public_address_gets_no_post(db, settings, receiver):
    """Checked again before each POST: a host *name* that resolves to loopback is refused then, and the
    server behind it never hears from the worker."""
    from orchestrator.services import webhooks

    settings.SLAFLOW_WEBHOOK_ALLOWED_NETWORKS = ()
    url = receiver.url.replace("127.0.0.1", "localhost")
    outcome = webhooks.post(url, {"run": 1, "kind": "sla_at_risk"}, timeout_s=2, attempts=3)
    assert outcome["attempts"] == 1 and outcome["error"].startswith("refused: "), outcome
    assert receiver.received == []
    with pytest.raises(webhooks.WebhookError, match="not a public address"):  # by what the name resolves to
        webhooks.check_destination(url)
    settings.SLAFLOW_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)  # the operator allows it: delivered
    assert webhooks.post(url, {"run": 1, "kind": "sla_at_risk"}, timeout_s=2, attempts=1)["status"] == 204
    assert len(receiver.received) == 1


def test_a_live_prediction_read_while_redis_is_down_is_none_not_an_error(tmp_path, settings, monkeypatch):
    """``run_workflow --json`` waited on a run whose Redis restarted, read the live prediction for its progress
    line at that moment and died with a ConnectionError (no JSON printed: the restart test's flake). REST and
    the run page read it too: while Redis is down there is no live prediction, nothing more."""
    from types import SimpleNamespace

    from experiments.bench.restarts import PrivateRedis
    from orchestrator.core import envconfig
    from store import keys, redis_client

    private = PrivateRedis(tmp_path, aof=False)
    private.start()
    try:
        settings.REDIS = envconfig.redis_target(private.url)
        monkeypatch.setattr(redis_client, "_client", None)  # a client of the private server, made on first use
        monkeypatch.setattr(redis_client, "_budget_s", 0.2)  # retries of an unreachable server end soon
        run = SimpleNamespace(pk=424242, predicted_makespan_s=5.0, makespan_s=None, alerts=[])
        fields = {"predicted_makespan_s": 6.0, "predicted_end_s": 7.0, "will_miss": 1, "updated_at": 1.0}
        redis_client.get_redis().hset(keys.live_prediction(run.pk), mapping=fields)
        assert alerts.live_of(run)["predicted_makespan_s"] == 6.0
        private.kill()
        assert alerts.live_of(run) is None
    finally:
        private.kill()
