"""The branch runtime on real Celery workers, real Redis and the real database."""

import time

import pytest

from orchestrator.handles import RunFailed
from orchestrator.models import TaskRun, WorkerStartup, WorkflowRun
from orchestrator.services.runs import SubmissionError
from slaflow import submit, submit_spec
from tests import taskfns as t
from tests.waiting import until
from workers import canvas

pytestmark = [pytest.mark.integration]


def test_diamond_runs_with_metrics_and_cleans_up(live, run_keys):
    src = t.value(2)
    run = submit(t.add(t.inc(src), t.inc(t.inc(src))), name="diamond-test")
    assert run.result(timeout=60) == 3 + 4
    r = run.run
    assert r.status == "succeeded" and r.makespan_s > 0 and r.gb_seconds > 0
    tasks = {tr.node_id: tr for tr in TaskRun.objects.filter(run_id=run.id)}
    assert len(tasks) == 5 and all(tr.status == "succeeded" for tr in tasks.values())
    for tr in tasks.values():
        assert tr.exec_s is not None and tr.output_bytes > 0 and tr.memory_mb == 2048 and tr.start_s >= 0
        assert tr.end_s >= tr.start_s
    # The fan-in's two inputs: in memory exactly when their task ran in the fan-in's own branch (chains keep
    # outputs in memory), else read from Redis.
    add_row = tasks["add-0"]
    assert len(add_row.inputs) == 2
    assert {i["node"]: i["local"] for i in add_row.inputs} == {
        up: tasks[up].branch_id == add_row.branch_id for up in ("inc-0", "inc-2")
    }
    startups = WorkerStartup.objects.filter(run_id=run.id)
    assert startups.count() >= 2
    assert all(s.startup_s >= 0 and s.active_s >= 0 for s in startups)
    assert r.cold_starts + r.warm_starts == startups.count()
    assert run_keys(run.id) == []  # every intermediate key deleted at the end


def test_wide_fan_in_with_one_process_per_queue_does_not_deadlock(
    django_db_setup, django_db_blocker, transactional_db, redis_server, settings
):
    """64 → 1 on a queue whose worker has exactly one pool process."""
    from localcluster.launcher import LocalCluster
    from tests.conftest import cluster_env

    settings.SLAFLOW_RESOURCE_CONFIGS = (768,)
    settings.SLAFLOW_DEFAULT_MEMORY_MB = 768
    env = cluster_env(SLAFLOW_RESOURCE_CONFIGS="768", SLAFLOW_DEFAULT_MEMORY_MB="768")
    with LocalCluster(memory_configs=(768,), max_pool=1, min_pool=1, env=env, loglevel="info"):
        run = submit(t.total([t.inc(i) for i in range(64)]), name="fan-in-64")
        assert run.result(timeout=120) == sum(range(1, 65))
    assert TaskRun.objects.filter(run_id=run.id, status="succeeded").count() == 65
    assert set(TaskRun.objects.filter(run_id=run.id).values_list("memory_mb", flat=True)) == {768}


def test_failing_task_fails_the_run_with_traceback(live, run_keys):
    run = submit(t.add(t.boom(1), t.inc(1)), name="boom")
    with pytest.raises(RunFailed) as err:
        run.result(timeout=60)
    assert "ValueError: boom on 1" in str(err.value) and err.value.node_id == "boom-0"
    r = WorkflowRun.objects.get(pk=run.id)
    assert r.status == "failed" and r.failed_node == "boom-0" and "Traceback" in r.error_traceback
    failed = TaskRun.objects.get(run_id=run.id, node_id="boom-0")
    assert failed.status == "failed" and "boom on 1" in failed.error and "raise ValueError" in failed.traceback
    # The sink never ran: it is skipped once the run has settled.
    until(
        lambda: TaskRun.objects.get(run_id=run.id, node_id="add-0").status == "skipped",
        timeout_s=30,
        what="the sink to be skipped",
    )
    # The same last branch then removes the run's Redis state (the states are settled first).
    until(lambda: run_keys(run.id) == [], timeout_s=30, what="the run's Redis keys to be removed")


def test_unstorable_output_fails_clearly(live):
    run = submit(t.value(t.unserialisable(1)), name="unstorable")
    with pytest.raises(RunFailed, match="output of unserialisable-0.*cannot be stored"):
        run.result(timeout=60)


def test_duplicate_executor_message_never_runs_a_task_twice(live, counts, redis_server):
    """Re-send the root executor's message (same id) while it runs: each task runs once, and the
    duplicate, once it finds the branch over, is dropped."""
    from store import keys
    from tests.waiting import message_settled

    tag = f"dup-{time.time_ns()}"
    run = submit(t.inc(t.slow_inc(t.inc(1, tag=tag), 1.5, tag=tag), tag=tag), name="dup-chain")
    token = canvas.executor_token(run.id, 2048, "root", 1)
    until(lambda: redis_server.exists(keys.lease(run.id, token)), what="the executor holding its lease")
    dup = canvas.executor_signature(run.id, token, 2048)
    dup.apply_async()
    assert run.result(timeout=60) == 4
    until(lambda: message_settled(token), timeout_s=30, every_s=0.5, what="the duplicate to be dropped")
    assert counts(tag) == 3  # inc-0, slow_inc-0, inc-1: once each
    assert TaskRun.objects.filter(run_id=run.id).values_list("attempts", flat=True).distinct().get() == 1


def test_worker_process_killed_mid_task_loses_nothing(live, counts):
    tag = f"die-{time.time_ns()}"
    run = submit(t.inc(t.die_once(4, tag=tag)), name="die-once")
    assert run.result(timeout=90) == 41
    assert counts(tag) == 1
    assert TaskRun.objects.get(run_id=run.id, node_id="die_once-0").attempts >= 1


def test_bad_submissions_store_nothing(live):
    before = (WorkflowRun.objects.count(), TaskRun.objects.count())
    bad_specs = [
        (
            {
                "nodes": [
                    {"id": "a", "function": "tests.taskfns.inc", "args": [{"ref": "b"}]},
                    {"id": "b", "function": "tests.taskfns.inc", "args": [{"ref": "a"}]},
                ]
            },
            "cycle",
        ),
        ({"nodes": [{"id": "a", "function": "tests.taskfns.missing_fn", "args": [1]}]}, "missing_fn"),
        ({"nodes": [{"id": "a", "function": "tests.taskfns.inc", "args": [{"ref": "ghost"}]}]}, "ghost"),
        ({"nodes": [{"id": "a", "function": "tests.taskfns.inc", "args": [{1, 2}]}]}, "not JSON"),
    ]
    for spec, needle in bad_specs:
        with pytest.raises(SubmissionError, match=needle):
            submit_spec(spec, name="bad")
    with pytest.raises(SubmissionError, match="planner"):
        submit(t.inc(1), name="bad", planner="nope")
    with pytest.raises(SubmissionError, match="SLA"):
        submit(t.inc(1), name="bad", sla="p100")
    assert (WorkflowRun.objects.count(), TaskRun.objects.count()) == before


def test_hooks_see_the_stages_of_every_task_of_a_real_run(live, redis_server):
    """tests.taskfns.ProbeHook runs in every test worker: for each task, its stages in order; a consumer
    executes only after each of its inputs reached its upload (the counters' call comes right after it).
    Its input's *after_complete* may come after the consumer started: a branch whose finish released the
    consumer to another branch runs its after_complete while the consumer already runs (no order between
    branches); the branch that runs the consumer itself ran its own input's after_complete first."""
    tag = f"probe-{time.time_ns()}"
    run = submit(t.add(t.inc(1, tag=tag), t.inc(2, tag=tag), tag=tag), name="probe-stages")
    assert run.result(timeout=60) == 5
    seen = [x.decode() for x in redis_server.lrange(f"sf:test:stages:{tag}", 0, -1)]
    stages = ("before_inputs", "before_execute", "after_execute", "before_upload", "after_complete")
    for nid in ("inc-0", "inc-1", "add-0"):
        assert [seen.index(f"{stage}:{nid}") for stage in stages] == sorted(seen.index(f"{s}:{nid}") for s in stages)
    for nid in ("inc-0", "inc-1"):
        assert seen.index(f"before_upload:{nid}") < seen.index("before_execute:add-0")
    assert min(seen.index("after_complete:inc-0"), seen.index("after_complete:inc-1")) < seen.index(
        "before_execute:add-0"
    )


def test_a_hook_that_raises_fails_the_run_naming_the_hook_and_stage(live):
    run = submit(t.inc(t.hook_victim(1)), name="hook-victim")
    with pytest.raises(RunFailed, match=r"hook 'probe' failed at before_execute \(run \d+, task hook_victim-0"):
        run.result(timeout=60)

    # The run fails at once; its leftover tasks are settled by the last branch to end.
    until(lambda: TaskRun.objects.get(run_id=run.id, node_id="inc-0").status == "skipped", what="inc-0 skipped")
