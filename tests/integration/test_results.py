"""Big results on real workers: published in the output store before their durable copy, read there by a
client on the host at once, durable before the run succeeds — and after a worker killed in between."""

import os
import signal
import time

import numpy as np
import psycopg2
import pytest
from django.db import connection

from orchestrator.core.states import RunStatus
from orchestrator.models import RunResult, TaskRun, WorkflowRun
from orchestrator.services import runs as runs_service
from slaflow import submit
from store import dataplane, keys, lease, tiers
from tests import taskfns as t
from tests.apiutil import client_for
from tests.waiting import until

pytestmark = [pytest.mark.integration]

BIG = 2 * 1024 * 1024 + 17  # above SLAFLOW_RESULT_PUBLISH_MIN_BYTES (128 KiB), and odd
SMALL = 128 * 1024 - 9  # encoded (8 bytes more): one byte below it


def expected(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8).tobytes()


class ResultTableLock:
    """Holds the result table locked from another connection: a sink's durable write waits behind it."""

    def __enter__(self):
        self.conn = psycopg2.connect(**connection.get_connection_params())
        with self.conn.cursor() as cur:
            cur.execute(f"LOCK TABLE {RunResult._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        return self

    def writer_waiting(self) -> bool:
        """A session waits for the lock (the sink's durable write)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_locks where not granted and relation = %s::regclass",
                [RunResult._meta.db_table],
            )
            return cur.fetchone()[0] > 0

    def stored(self, run_id: int) -> bool:
        with self.conn.cursor() as cur:
            cur.execute(f"select count(*) from {RunResult._meta.db_table} where run_id = %s", [run_id])
            return cur.fetchone()[0] > 0

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


def _pids_running(redis_server, run_id: int, node_id: str) -> list[int]:
    """The processes (their leases' holders) of the run's branches now running ``node_id``."""
    pids = []
    for raw in redis_server.smembers(keys.live(run_id)):
        token = raw.decode()
        holder = redis_server.get(keys.lease(run_id, token))
        if holder and dataplane.current_task(run_id, token) == node_id:
            pids.append(lease.holder_pid(holder.decode()))
    return pids


def _run_files(run_id: int) -> list[str]:
    folder = tiers.local().hdir.run_dir(run_id)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_big_result_is_read_before_it_is_durable_and_the_run_succeeds_only_once_it_is(live, counts):
    tag = f"bigres-{time.time_ns()}"
    with ResultTableLock() as lock:
        run = submit(t.sized_bytes(11, BIG, tag=tag), name="big-result")
        until(lock.writer_waiting, timeout_s=60, what="the sink's durable write waiting for the table")
        # Published, not durable: the client has it from the output store, the run has not succeeded.
        assert run.result(timeout=30) == expected(11, BIG)
        assert run.status == RunStatus.RUNNING and not lock.stored(run.id)
        assert _run_files(run.id), "the published result lives in the host's shared memory"
    assert run.wait(timeout=60) == RunStatus.SUCCEEDED
    # Durable once succeeded: read from the database (not the output store, whose files went with the run).
    assert _run_files(run.id) == []
    assert run.result(timeout=5, early=False) == expected(11, BIG)
    assert bytes(runs_service.result_data(run.id)) == bytes(RunResult.objects.get(run_id=run.id).data)
    got = WorkflowRun.objects.get(pk=run.id)
    assert got.result_bytes == BIG + 8 and got.result_type == "bytes" and counts(tag) == 1
    assert got.makespan_s > 0 and got.timings["branch_result_durable_s"] > 0


@pytest.mark.parametrize("size, published", [(SMALL, False), (SMALL + 1, True)])
def test_the_threshold_a_result_one_byte_under_it_is_read_only_once_durable(live, size, published):
    with ResultTableLock() as lock:
        run = submit(t.sized_bytes(12, size), name="threshold-result")
        until(lock.writer_waiting, timeout_s=60, what="the sink's durable write waiting for the table")
        assert dataplane.has_published_result(run.id) is published
        if published:
            assert run.result(timeout=30) == expected(12, size) and run.status == RunStatus.RUNNING
    assert run.wait(timeout=60) == RunStatus.SUCCEEDED
    assert run.result(timeout=5, early=False) == expected(12, size)


def test_the_worker_killed_between_publishing_and_the_durable_copy_loses_nothing(live, counts, redis_server):
    """The sink's process dies while its durable write waits: the run is not succeeded, its delivery is
    taken over, the sink runs again and stores the same bytes, and only then does the run succeed."""
    tag = f"bigkill-{time.time_ns()}"
    with ResultTableLock() as lock:
        run = submit(t.sized_bytes(13, BIG, tag=tag), name="big-result-kill")
        until(lock.writer_waiting, timeout_s=60, what="the sink's durable write waiting for the table")
        assert run.result(timeout=30) == expected(13, BIG)
        pids = _pids_running(redis_server, run.id, "sized_bytes-0")
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
    assert run.wait(timeout=120) == RunStatus.SUCCEEDED
    assert counts(tag) == 2  # run again by the delivery that took the branch over
    assert run.result(timeout=5, early=False) == expected(13, BIG)
    assert RunResult.objects.filter(run_id=run.id).count() == 1


def test_a_big_result_after_the_run_is_read_from_the_database_and_over_rest(live, django_user_model):
    api = client_for("big-result-reader")
    owner = django_user_model.objects.get(username="big-result-reader")
    run = submit(t.sized_bytes(14, BIG), name="big-result-after", owner=owner)
    assert run.wait(timeout=60) == RunStatus.SUCCEEDED
    assert not dataplane.has_published_result(run.id) and _run_files(run.id) == []  # gone with the run
    os.kill(TaskRun.objects.get(run_id=run.id, node_id="sized_bytes-0").pid, signal.SIGKILL)  # its maker dies
    assert run.result(timeout=5) == expected(14, BIG)
    body = api.get(f"/api/runs/{run.id}/result/").json()
    assert body["type"] == "bytes" and body["bytes"] == BIG + 8 and body["json"] is False
