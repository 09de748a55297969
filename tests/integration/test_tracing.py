"""OpenTelemetry tracing (workers.tracing, workers.tracing_hook): a branch's spans in this process with
the SDK's in-memory exporter, and a whole run's trace across real worker processes."""

import json
import time

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.models import TaskRun, WorkerStartup
from slaflow import submit
from store import dataplane
from tests import taskfns as t
from tests.waiting import until
from workers import canvas, tracing

pytestmark = [pytest.mark.integration]


@pytest.fixture
def traced(settings, tmp_path):
    """Tracing on in this process: spans to an in-memory exporter and to a JSON-lines file."""
    settings.SLAFLOW_OTEL = True
    settings.SLAFLOW_OTEL_FILE = str(tmp_path / "spans.jsonl")
    tracing.reset()
    memory = InMemorySpanExporter()
    tracing.use_exporter(memory)
    yield memory
    tracing.reset()


@pytest.fixture
def run_id(redis_server):
    rid = 20_000_000 + time.time_ns() % 1_000_000
    yield rid
    dataplane.delete_run_data(rid)


def test_tracing_is_off_by_default(settings):
    assert settings.SLAFLOW_OTEL is False and not tracing.enabled()
    with tracing.run_span(1, workflow="w") as carrier:
        sig = canvas.branch_signature(1, ["a"], worker="W", memory_mb=512)
    assert carrier is None and "trace" not in sig.options["headers"][canvas.HEADER]


def test_a_branch_has_a_span_per_task_and_stage_under_the_run_it_belongs_to(traced, run_id, settings):
    """The readiness tests' branch (W runs a, b, c, d; e belongs to X and is dispatched), traced."""
    from tests.branches import w_branch
    from workers.core_hooks import hooks_for

    with tracing.run_span(run_id, workflow="traced") as run_carrier:
        pass
    branch = w_branch(run_id, trace=run_carrier)
    assert [h.name for h in branch.hooks.hooks][0] == "tracing" and hooks_for(branch.ctx)[0].name == "tracing"
    branch.execute()
    assert branch.failure is None

    spans = traced.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    (run_span,) = [s for s in spans if s.name == "slaflow.run"]
    (branch_span,) = [s for s in spans if s.name == "slaflow.branch"]
    assert {s.context.trace_id for s in spans} == {run_span.context.trace_id}  # one trace
    assert branch_span.parent.span_id == run_span.context.span_id  # no header here: under the run span
    assert branch_span.attributes["slaflow.branch"] == "W-1" and branch_span.attributes["slaflow.tasks"] == 4
    tasks = {s.attributes["slaflow.node"]: s for s in spans if s.name == "slaflow.task"}
    assert set(tasks) == {"a", "b", "c", "d"}
    for node, span in tasks.items():
        assert span.parent.span_id == branch_span.context.span_id and span.attributes["slaflow.status"] == "succeeded"
        stages = [
            s.name
            for s in sorted(spans, key=lambda s: s.start_time)
            if s.parent is not None and s.parent.span_id == span.context.span_id
        ]
        assert stages[:3] == ["inputs", "execute", "upload"]
        assert stages[3:] == (["dispatch"] if node == "d" else [])  # d sent e's branch to worker X
        for s in spans:
            if s.parent is not None and s.parent.span_id == span.context.span_id:
                assert span.start_time <= s.start_time <= s.end_time <= span.end_time
    assert all(s.parent is None or s.parent.span_id in by_id for s in spans)
    # the same spans went to the file exporter, one JSON object a line
    lines = [json.loads(line) for line in open(settings.SLAFLOW_OTEL_FILE)]
    assert sorted(d["name"] for d in lines) == sorted(s.name for s in spans)


def test_a_message_sent_under_a_span_carries_its_context(traced):
    span = tracing.start_span("dispatch")
    tracing.set_current(span)
    try:
        sig = canvas.branch_signature(7, ["x"], worker="W", memory_mb=512)
    finally:
        tracing.set_current(None)
        span.end()
    traceparent = sig.options["headers"][canvas.HEADER]["trace"]["traceparent"]
    assert traceparent.startswith(f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-")


def test_one_trace_per_run_across_the_worker_processes(
    django_db_setup, django_db_blocker, transactional_db, redis_server, settings, traced, tmp_path
):
    """Real workers with SLAFLOW_OTEL=1 write their spans to a file; every branch of the run is in the run's
    trace, a dispatched branch under the span of the task stage that sent it."""
    from localcluster.launcher import LocalCluster
    from tests.conftest import cluster_env

    spans_file = settings.SLAFLOW_OTEL_FILE
    settings.SLAFLOW_RESOURCE_CONFIGS = (640,)  # a queue of its own: the session's cluster does not serve it
    settings.SLAFLOW_DEFAULT_MEMORY_MB = 640
    env = cluster_env(
        SLAFLOW_RESOURCE_CONFIGS="640", SLAFLOW_DEFAULT_MEMORY_MB="640", SLAFLOW_OTEL="1", SLAFLOW_OTEL_FILE=spans_file
    )
    with LocalCluster(memory_configs=(640,), max_pool=2, min_pool=1, env=env, loglevel="info"):
        src = t.value(3)
        run = submit(t.total([t.slow_inc(src, 0.2) for _ in range(4)]), name="traced-fan", planner="wukong")
        assert run.result(timeout=120) == 16
        branches = set(WorkerStartup.objects.filter(run_id=run.id).values_list("branch_id", flat=True))

        def exported():
            rows = [json.loads(line) for line in open(spans_file)]
            got = {r["attributes"].get("slaflow.branch") for r in rows if r["name"] == "slaflow.branch"}
            return rows if branches <= got else None

        rows = until(exported, timeout_s=30, what="every branch's span in the file")
    assert len(branches) >= 2  # the fan-out ran on more than one branch: the trace crosses messages
    (run_span,) = [r for r in rows if r["name"] == "slaflow.run" and r["attributes"]["slaflow.run_id"] == run.id]
    trace_id = run_span["context"]["trace_id"]
    ours = [r for r in rows if r["context"]["trace_id"] == trace_id]
    assert {r["attributes"].get("slaflow.branch") for r in ours if r["name"] == "slaflow.branch"} == branches
    by_id = {r["context"]["span_id"]: r for r in ours}
    branch_spans = [r for r in ours if r["name"] == "slaflow.branch"]
    sent_by_a_stage = 0
    for b in branch_spans:
        parent = by_id[b["parent_id"]]  # every parent is in the run's trace
        if parent["name"] != "slaflow.run":
            assert parent["name"] in ("upload", "dispatch", "execute")  # the stage that sent the message
            owner_task = by_id[parent["parent_id"]]
            owner_branch = by_id[owner_task["parent_id"]]
            assert owner_branch["attributes"]["slaflow.branch"] != b["attributes"]["slaflow.branch"]
            sent_by_a_stage += 1
    assert sent_by_a_stage >= 1
    nodes = set(TaskRun.objects.filter(run_id=run.id).values_list("node_id", flat=True))
    traced_nodes = [r["attributes"]["slaflow.node"] for r in ours if r["name"] == "slaflow.task"]
    assert sorted(traced_nodes) == sorted(nodes)
