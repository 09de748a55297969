"""The Lambda handler called directly, event by event: a whole run's branches go through
``workers.lambda_handler.handler`` in this process, against the real Redis and database. The events are
the ones the executor really sent: the Lambda endpoint here is an HTTP server that records each
asynchronous invocation (what boto3 sent, as AWS would receive it) instead of running it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.models import WorkerStartup, WorkflowRun
from orchestrator.optimizations.prewarm import runtime as prewarm
from slaflow import submit
from tests import taskfns as t
from tests.lambda_support import FAKE_AWS
from tests.waiting import until
from workers import lambda_handler, transport


class Inbox:
    """A Lambda Invoke API endpoint that keeps the invocations (function, type, event) it is sent."""

    def __init__(self):
        self.events: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = self.path.split("/functions/", 1)[1].split("/", 1)[0]
                with inbox.lock:
                    inbox.events.append((name, self.headers.get("X-Amz-Invocation-Type"), json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self) -> list[tuple[str, str, dict]]:
        with self.lock:
            got, self.events[:] = list(self.events), []
        return got


@pytest.fixture
def inbox(transactional_db, redis_server, settings, monkeypatch):
    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    box = Inbox()
    settings.SLAFLOW_LAMBDA_CONFIGS = tuple(settings.SLAFLOW_RESOURCE_CONFIGS)  # every configuration on Lambda
    settings.SLAFLOW_LAMBDA_ENDPOINT_URL = box.url
    monkeypatch.setattr(lambda_handler, "_FRESH", True)  # the next invocation meets a new environment
    yield box
    box.server.shutdown()


def _drive(box: Inbox, run_id: int, limit: int = 50) -> list[dict]:
    """Hand every invocation sent to the handler, as Lambda would, until the run is over."""
    replies = []
    for _ in range(limit):
        if WorkflowRun.objects.get(pk=run_id).is_finished:
            return replies
        for name, kind, event in until(box.take, timeout_s=10, what="an invocation"):
            assert kind == "Event" and name == f"slaflow-{event['headers']['memory_mb']}"
            replies.append(lambda_handler.handler(event, None))
    raise AssertionError("the run did not end")


def test_a_run_goes_through_the_handler_event_by_event(inbox):
    run = submit(t.add(t.inc(1), t.inc(2)), name="by-hand")
    replies = _drive(inbox, run.id)
    assert run.result(timeout=10) == 5
    assert replies and all(r["kind"] == "branch" for r in replies)
    assert replies[0]["fresh"] is True and not any(r["fresh"] for r in replies[1:])
    startups = sorted(WorkerStartup.objects.filter(run_id=run.id), key=lambda s: s.started_at)
    assert (startups[0].cold, startups[0].reason) == (True, "new-process")
    assert all(not s.cold for s in startups[1:])


def test_a_prewarm_ping_loads_the_run_and_the_next_branch_is_warm(inbox):
    run = submit(t.inc(t.value(1)), name="pinged")
    events = until(inbox.take, timeout_s=10, what="the root invocation")
    shash = WorkflowRun.objects.select_related("workflow").get(pk=run.id).workflow.structure_hash
    ping = transport.event_of(prewarm.ping_signature(run.id, shash, 512, "inc-0"))
    reply = lambda_handler.handler(ping, None)
    assert reply["kind"] == "prewarm" and reply["fresh"] is True and reply["target"] == "inc-0"
    for _, _, event in events:
        lambda_handler.handler(event, None)
    _drive(inbox, run.id)
    assert run.result(timeout=10) == 2
    first = min(WorkerStartup.objects.filter(run_id=run.id), key=lambda s: s.started_at)
    assert (first.cold, first.reason) == (False, "prewarmed")


class _Short:
    def get_remaining_time_in_millis(self) -> int:
        return 3000


def test_a_hold_longer_than_the_invocation_left_is_invoked_again(inbox):
    import time

    event = {
        "v": 1,
        "task": "workers.tasks.run_branch",
        "id": "r1-W-x",
        "args": [1, ["a"]],
        "kwargs": {"worker": "W"},
        "headers": {"memory_mb": 512},
        "not_before": time.time() + 60,
    }
    reply = lambda_handler.handler(event, _Short())
    assert reply["kind"] == "requeued"
    [(name, kind, again)] = inbox.take()
    assert name == "slaflow-512" and again == event  # the same event, to run no earlier than before


@pytest.mark.parametrize("event", [{}, {"task": "os.system", "args": ["id"]}, ["not", "a", "dict"]])
def test_anything_but_a_slaflow_event_is_refused(inbox, event):
    with pytest.raises(ValueError, match="not a slaflow event"):
        lambda_handler.handler(event, None)
