"""The Lambda executor for real, without AWS: runs whose configurations are partly Celery workers and
partly Lambda functions served by the local Lambda-compatible endpoint (``localcluster.lambda_local``: handler
processes under each configuration's limits, warm reuse within a keep-alive window, a timeout and a
concurrency limit), with big outputs in an S3 bucket of moto's server."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from orchestrator import planning
from orchestrator.models import TaskRun, WorkerStartup, WorkflowRun
from orchestrator.planning.plan import Plan as PlanData, TaskPlan
from slaflow import submit
from tests import taskfns as t
from tests.conftest import _session, cluster_env
from tests.lambda_support import FAKE_AWS, fake_client, free_port, local_lambda, moto_bucket, stats
from tests.waiting import until

pytestmark = [pytest.mark.integration]

LAMBDA_MB, CELERY_MBS = 512, (1024, 2048)
FUNCTION = f"slaflow-{LAMBDA_MB}"
BUCKET = "slaflow-lambda-tests"
# A keep-alive window long enough for the warm start a test makes at once (under 0.5 s after the environment
# went idle, here), short enough to wait out; the timeout above the longest invocation seen (5.3 s).
TIMEOUT_S, KEEPALIVE_S, CONCURRENCY = 8, 5.0, 2


@pytest.fixture(scope="module")
def lab(django_db_setup, django_db_blocker, redis_server, tmp_path_factory):
    """moto's S3, the local Lambda endpoint serving the 512 MB configuration, and Celery workers for the
    other two, every process configured alike. The session's cluster (which knows no Lambda) is stopped
    meanwhile (``live`` starts it again)."""
    from localcluster.launcher import LocalCluster

    if "cluster" in _session:
        _session["cluster"].stop()
    with moto_bucket(BUCKET) as s3_url:
        port = free_port()
        lambda_settings = {
            "SLAFLOW_LAMBDA_CONFIGS": str(LAMBDA_MB),
            "SLAFLOW_LAMBDA_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "SLAFLOW_OBJECT_STORE_BUCKET": BUCKET,
            "SLAFLOW_OBJECT_STORE_ENDPOINT_URL": s3_url,
            "SLAFLOW_LAMBDA_TIMEOUT_S": str(TIMEOUT_S),
        }
        with django_db_blocker.unblock():
            env = cluster_env(**FAKE_AWS, **lambda_settings)
        logs = tmp_path_factory.mktemp("lambda")
        with local_lambda(
            env, keepalive_s=KEEPALIVE_S, concurrency=CONCURRENCY, port=port, log_path=logs / "endpoint.log"
        ) as url:
            cluster = LocalCluster(memory_configs=CELERY_MBS, max_pool=2, env=env, loglevel="info")
            cluster.start(timeout_s=90)
            try:
                yield {"url": url, "s3": s3_url, "settings": lambda_settings, "log": logs / "endpoint.log"}
            finally:
                cluster.stop()


@pytest.fixture
def aws(lab, transactional_db, settings, monkeypatch):
    """This process submits as the lab's processes are configured."""
    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    settings.SLAFLOW_LAMBDA_CONFIGS = (LAMBDA_MB,)
    settings.SLAFLOW_LAMBDA_ENDPOINT_URL = lab["url"]
    settings.SLAFLOW_OBJECT_STORE_BUCKET = BUCKET
    settings.SLAFLOW_OBJECT_STORE_ENDPOINT_URL = lab["s3"]
    yield lab
    from tests.conftest import settle_runs

    settle_runs()


def by_node(memory: dict[str, int]):
    """A planner placing each node (by id prefix) on the given configuration, each its own logical worker
    (a flexible task may run on the executor that completed its last input, whatever its configuration)."""

    def plan(graph, predictor, config):
        tasks = {}
        for nid in graph:
            mb = next((m for prefix, m in memory.items() if nid.startswith(prefix)), config.default_memory_mb)
            tasks[nid] = TaskPlan(nid, mb, worker=f"W-{nid}", startup="unknown", start_s=0.0, end_s=0.0)
        return PlanData(planner=config.planner, sla=config.sla, tasks=tasks, note="by node")

    return plan


def _objects(s3_url: str) -> list[str]:
    return [o["Key"] for o in fake_client("s3", s3_url).list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _expected(*seeds: int) -> str:
    h = hashlib.sha256()
    for s in seeds:
        h.update(np.random.default_rng(s + 1).standard_normal((1 << 20) // 8).tobytes())
    return h.hexdigest()


def _lambda_startups(run_id: int) -> list[WorkerStartup]:
    return list(WorkerStartup.objects.filter(run_id=run_id, memory_mb=LAMBDA_MB))


def no_environment(url: str) -> bool:
    """No environment of the function is left: none idle, none running (an invocation ends after its run)."""
    snap = stats(url)[FUNCTION]
    return snap["idle"] == 0 and snap["running"] == 0


def test_cold_then_warm_then_cold_again_after_the_keep_alive(aws, monkeypatch):
    """First in the module: the endpoint has no environment yet, so the first wait is over at once (after
    another test it waited out that test's environment)."""
    monkeypatch.setitem(planning.PLANNERS, "by-node", by_node({"inc": LAMBDA_MB, "value": 1024}))
    before = stats(aws["url"])[FUNCTION]
    until(
        lambda: no_environment(aws["url"]),
        timeout_s=KEEPALIVE_S + 30,
        what="every environment stopped after the keep-alive window",
    )

    def one(name: str) -> list[WorkerStartup]:
        run = submit(t.inc(t.value(41)), name=name, planner="by-node")
        assert run.result(timeout=120) == 42
        # the sink's branch writes its start-up record as it ends, after the result is out
        until(lambda: _lambda_startups(run.id), timeout_s=30, what="the Lambda branch's start-up record")
        return _lambda_startups(run.id)

    first = one("lambda-cold")
    # its invocation ends after the run does (the last branch finalizes it): then the environment is idle
    until(
        lambda: stats(aws["url"])[FUNCTION]["idle"] == 1 and stats(aws["url"])[FUNCTION]["running"] == 0,
        timeout_s=30,
        what="the environment idle",
    )
    second = one("lambda-warm")
    assert [(s.cold, s.reason) for s in first] == [(True, "new-process")]
    assert [(s.cold, s.reason) for s in second] == [(False, "warm")], (first[0].pid, second[0].pid, stats(aws["url"]))
    assert first[0].pid == second[0].pid  # the same environment, reused
    after = stats(aws["url"])[FUNCTION]
    assert after["cold"] >= before["cold"] + 1 and after["warm"] >= before["warm"] + 1

    until(
        lambda: no_environment(aws["url"]),
        timeout_s=KEEPALIVE_S + 30,
        what="the environment stopped after the keep-alive window",
    )
    third = one("lambda-cold-again")
    assert [(s.cold, s.reason) for s in third] == [(True, "new-process")] and third[0].pid != first[0].pid


def test_a_run_mixing_celery_and_lambda_configurations_is_correct(aws, monkeypatch):
    """payload-0/2 on Celery (1024 MB), payload-1/3 and one checksum on Lambda (512 MB), the other checksum
    and the gather on Celery (2048 MB): 1 MB outputs cross both ways through the bucket."""
    monkeypatch.setitem(
        planning.PLANNERS,
        "by-node",
        by_node(
            {
                "payload-0": 1024,
                "payload-2": 1024,
                "payload-1": LAMBDA_MB,
                "payload-3": LAMBDA_MB,
                "checksum_all-0": LAMBDA_MB,
                "checksum_all-1": 2048,
                "gather": 1024,
            }
        ),
    )
    parts = [t.payload(i, 1) for i in range(4)]
    run = submit(
        t.gather([t.checksum_all(parts), t.checksum_all([parts[1], parts[3]])]), name="mixed", planner="by-node"
    )
    assert run.result(timeout=180) == [_expected(0, 1, 2, 3), _expected(1, 3)]

    rows = {r.node_id: r for r in TaskRun.objects.filter(run_id=run.id)}
    assert {n: r.memory_mb for n, r in rows.items()} == {
        "payload-0": 1024,
        "payload-1": 512,
        "payload-2": 1024,
        "payload-3": 512,
        "checksum_all-0": 512,
        "checksum_all-1": 2048,
        "gather-0": 1024,
    }
    # Lambda read the Celery-made outputs, and Celery the Lambda-made ones, from the object store.
    tiers = {
        (n, i["node"]): i.get("tier")
        for n in ("checksum_all-0", "checksum_all-1")
        for i in rows[n].inputs
        if not i["local"]
    }
    assert tiers[("checksum_all-0", "payload-0")] == "object" and tiers[("checksum_all-1", "payload-1")] == "object"
    # The 512 MB branches ran in the endpoint's handler processes: pids no Celery worker has.
    lambda_pids = {r.pid for n, r in rows.items() if r.memory_mb == LAMBDA_MB}
    celery_pids = {r.pid for n, r in rows.items() if r.memory_mb != LAMBDA_MB}
    assert lambda_pids and not lambda_pids & celery_pids
    assert stats(aws["url"])[FUNCTION]["invocations"] >= 1
    # The run's objects are gone with its data.
    until(
        lambda: not [k for k in _objects(aws["s3"]) if f"/r{run.id}/" in k],
        timeout_s=30,
        what="the run's objects deleted at its end",
    )


def test_a_fan_out_on_lambda_stays_within_the_concurrency_limit(aws, monkeypatch):
    monkeypatch.setitem(planning.PLANNERS, "by-node", by_node({"slow_inc": LAMBDA_MB}))
    src = t.value(0)
    run = submit(t.total([t.slow_inc(src, 0.5) for _ in range(8)]), name="lambda-fan", planner="by-node")
    assert run.result(timeout=180) == 8
    snap = stats(aws["url"])[FUNCTION]
    assert 1 <= snap["max_running"] <= CONCURRENCY
    assert TaskRun.objects.filter(run_id=run.id, memory_mb=LAMBDA_MB).count() == 8


def test_a_branch_past_the_function_timeout_is_stopped_and_the_run_fails_naming_it(aws, monkeypatch):
    monkeypatch.setitem(planning.PLANNERS, "by-node", by_node({"slow_inc": LAMBDA_MB}))
    before = stats(aws["url"])[FUNCTION]["timeouts"]
    run = submit(t.slow_inc(1, TIMEOUT_S * 10), name="lambda-timeout", planner="by-node")
    until(lambda: WorkflowRun.objects.get(pk=run.id).is_finished, timeout_s=180, every_s=0.5, what="the run ended")
    wr = WorkflowRun.objects.get(pk=run.id)
    assert wr.status == "failed" and "slow_inc-0" in wr.error and "died each time" in wr.error, wr.error
    assert stats(aws["url"])[FUNCTION]["timeouts"] >= before + 1


def test_pushed_code_runs_on_lambda_and_celery_in_one_run(aws, monkeypatch):
    """Issue 28's whole capability at once: a module pushed after every worker and handler process
    started runs in one run on a Lambda configuration (fetched by hash in the handler process) and on a
    Celery one, two versions side by side, each task on the configuration its plan gave it."""
    from django.contrib.auth.models import Permission, User

    from orchestrator.services import code as pushed
    from slaflow import submit_spec
    from tests.codefiles import module

    alice = User.objects.create_user("lambda-pusher")
    alice.user_permissions.add(Permission.objects.get(codename="push_code"))
    alice = User.objects.get(pk=alice.pk)  # permissions cached on the instance
    v1, _ = pushed.push(alice, "lcalc.py", module(3))
    v2, _ = pushed.push(alice, "lcalc.py", module(5))
    assert (v1.version, v2.version) == (1, 2)
    monkeypatch.setitem(planning.PLANNERS, "by-node", by_node({"on-lambda": LAMBDA_MB, "on-celery": 2048}))
    spec = {
        "nodes": [
            {"id": "on-lambda-a", "function": "code:lcalc@1:scale", "args": [7]},
            {"id": "on-celery-b", "function": "code:lcalc@2:scale", "args": [{"ref": "on-lambda-a"}]},
            {"id": "on-lambda-c", "function": "code:lcalc@latest:tag", "args": [{"ref": "on-celery-b"}]},
        ]
    }
    run = submit_spec(spec, name="pushed-on-lambda", planner="by-node", owner=alice)
    assert run.result(timeout=180) == "v5:" + str(7 * 3 * 5)

    rows = {r.node_id: r for r in TaskRun.objects.filter(run_id=run.id)}
    assert {n: r.memory_mb for n, r in rows.items()} == {
        "on-lambda-a": LAMBDA_MB,
        "on-celery-b": 2048,
        "on-lambda-c": LAMBDA_MB,
    }
    lambda_pids = {rows["on-lambda-a"].pid, rows["on-lambda-c"].pid}
    assert rows["on-celery-b"].pid not in lambda_pids
    # the handler process fetched and imported the pushed code as part of its start-up
    until(lambda: _lambda_startups(run.id), timeout_s=30, what="the Lambda branches' start-up records")
    assert any(s.code_s > 0 for s in _lambda_startups(run.id)), [(s.code_s, s.reason) for s in _lambda_startups(run.id)]
