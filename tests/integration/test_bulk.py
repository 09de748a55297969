"""Bulk writes (orchestrator.services.bulk) against the configured database: what goes in comes out."""

import datetime as dt

import numpy as np
import pytest

from orchestrator.core import codec
from orchestrator.models import RunResult, TaskRun, Workflow, WorkflowRun
from orchestrator.services import bulk, runs as run_services

pytestmark = [pytest.mark.integration]


@pytest.fixture
def run(transactional_db):
    wf = Workflow.objects.create(name="bulk", structure_hash="h", spec={}, task_count=3)
    return WorkflowRun.objects.create(workflow=wf, planner="wukong", sla="p90", spec={})


def test_rows_with_awkward_values_round_trip(run):
    when = dt.datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
    bulk.insert(
        TaskRun,
        [
            {
                "run_id": run.pk,
                "node_id": "a",
                "function": "m.f",
                "planned_worker": "w\t1\\x\nnext",
                "inputs": [{"node": "b", "bytes": 3, "note": "tab\there"}],
                "started_at": when,
                "planned_critical": True,
                "exec_s": 1e-7,
                "planned_output_bytes": 2**40,
            },
            {"run_id": run.pk, "node_id": "b", "function": "m.g"},
        ],
    )
    a = TaskRun.objects.get(run=run, node_id="a")
    assert a.planned_worker == "w\t1\\x\nnext" and a.inputs == [{"node": "b", "bytes": 3, "note": "tab\there"}]
    assert a.started_at == when and a.planned_critical is True and a.exec_s == 1e-7
    assert a.planned_output_bytes == 2**40
    b = TaskRun.objects.get(run=run, node_id="b")
    assert b.status == "pending" and b.inputs == [] and b.optimizations == {} and b.exec_s is None  # defaults


def test_an_upsert_outside_a_transaction_updates_only_the_named_fields(run):
    bulk.insert(TaskRun, [{"run_id": run.pk, "node_id": "a", "function": "m.f", "planned_worker": "w0"}])
    bulk.insert(
        TaskRun,
        [
            {
                "run_id": run.pk,
                "node_id": "a",
                "function": "m.f",
                "status": "succeeded",
                "exec_s": 0.5,
                "optimizations": {"preload": 1},
            }
        ],
        conflict=("run_id", "node_id"),
        update=["status", "exec_s", "optimizations"],
    )
    a = TaskRun.objects.get(run=run, node_id="a")
    assert (a.status, a.exec_s, a.optimizations, a.planned_worker) == ("succeeded", 0.5, {"preload": 1}, "w0")
    assert TaskRun.objects.filter(run=run).count() == 1


def test_a_large_blob_is_stored_exactly(run):
    blob = bytes(range(256)) * 40_000  # 10 MB with every byte value
    bulk.insert_blob(RunResult, {"run_id": run.pk, "created_at": dt.datetime.now(dt.timezone.utc)}, "data", blob)
    assert bytes(RunResult.objects.get(run=run).data) == blob


def test_a_result_stored_from_its_encoded_parts_is_the_joined_bytes(run):
    value = np.random.default_rng(9).standard_normal((512, 640))
    enc = codec.encode(value)
    assert len(enc.parts) == 2  # the array's data is streamed from where it lies
    run_services.store_result(run.pk, enc, value)
    assert bytes(run_services.result_data(run.pk)) == codec.dumps(value)
    run.refresh_from_db()
    assert run.result_bytes == enc.size and run.result_type == "ndarray"
