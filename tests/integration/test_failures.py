"""Failures users can live with, on real workers: dead workers, hung tasks, cancellation, retries, OOM."""

import os
import signal
import time

import pytest

from orchestrator.core import router
from orchestrator.handles import RunCancelled, RunFailed
from orchestrator.models import TaskRun, WorkflowRun
from orchestrator.services.runs import SubmissionError, cancel_run
from slaflow import submit
from store import keys
from tests import taskfns as t
from tests.waiting import LogTail, message_settled, until
from workers import canvas

pytestmark = [pytest.mark.integration]


def _worker_pid(cluster, memory_mb: int) -> int:
    return next(svc.proc.pid for svc in cluster.services if svc.name == f"worker rc-{memory_mb}")


def test_kill_9_of_a_worker_s_process_group_mid_run_loses_nothing(live, counts):
    """12 × 1.5 s tasks on the 2048 MB worker; its main process and pool are killed mid-run. Its leases lapse,
    another worker's reaper sends its branches again, the local cluster restarts it, and the run ends
    with the right result: tasks done before the kill ran once, the sink once."""
    tag = f"chaos-{time.time_ns()}"
    sink_tag = tag + "-sink"
    run = submit(t.total([t.slow_inc(i, 1.5, tag=f"{tag}-{i}") for i in range(12)], tag=sink_tag), name="chaos")
    until(lambda: sum(counts(f"{tag}-{i}") for i in range(12)) >= 3, timeout_s=60, what="three tasks started")
    pid = _worker_pid(live, 2048)
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    assert run.result(timeout=120) == sum(range(1, 13))
    assert counts(sink_tag) == 1
    runs_of = [counts(f"{tag}-{i}") for i in range(12)]
    assert all(1 <= n <= 2 for n in runs_of)  # only tasks in flight when the worker died ran again
    rows = TaskRun.objects.filter(run_id=run.id)
    assert rows.count() == 13 and set(rows.values_list("status", flat=True)) == {"succeeded"}
    # The cluster keeps serving: the worker was restarted and takes work again.
    until(lambda: _worker_pid(live, 2048) != pid and live.healthy(), timeout_s=60, what="the worker restarted")
    assert submit(t.inc(t.value(1)), name="after-chaos").result(timeout=60) == 2


def test_a_duplicate_waits_without_limit_and_the_branch_survives_its_holder_dying(live, counts, redis_server):
    """A duplicate of a running branch backs off for as long as the branch runs (it used to give up after
    three retries and consume the message); then the holder's process dies, and the run still ends."""
    tag = f"dupwait-{time.time_ns()}"
    # The slow task's first execution outlasts the duplicate's retries; its re-execution after the kill is quick.
    run = submit(t.inc(t.slow_once_inc(t.inc(1, tag=tag + "a"), 20.0, tag=tag + "b"), tag=tag + "c"), name="dup-wait")
    token = canvas.executor_token(run.id, 2048, "root", 1)
    until(lambda: counts(tag + "b") >= 1, timeout_s=60, what="the slow task to start")
    log = LogTail(live.log_dir / f"worker-{router.queue_for(2048)}.log")
    canvas.executor_signature(run.id, token, 2048).apply_async()
    # With 3 s leases the duplicate retries every 1.5 s (Celery logs each): a fourth retry is one more than
    # the three Celery allowed, and the duplicate still waits.
    until(lambda: log.text().count(f"[{token}] retry:") >= 4, timeout_s=60, what="the duplicate's fourth retry")
    assert not message_settled(token), "the duplicate gave up while the branch was still running"
    holder = redis_server.get(keys.lease(run.id, token)).decode()
    os.kill(int(holder.split(":")[1]), signal.SIGKILL)  # the holder's pool process dies mid-task
    assert run.result(timeout=120) == 4
    # slow_once_inc-0 ran again after the kill; inc-0, whose output stayed in the dead process's memory, had
    # to run again to feed it; inc-1 ran once: readiness stayed exactly-once.
    assert (counts(tag + "a"), counts(tag + "b"), counts(tag + "c")) == (2, 2, 1)


def test_a_lease_that_lapses_while_its_holder_is_alive_is_taken_back_not_taken_over(live, counts, redis_server):
    """An executor's lease lapses while it runs a slow task — Redis (or the whole machine) stalled past the
    lease, simulated by the key vanishing. Its holder is alive and nobody took the branch over, so it takes
    its lease back at its next beat: no second delivery, the slow task runs once (it used to be taken over
    and run again, and under load every executor of a run was)."""
    tag = f"lapse-{time.time_ns()}"
    run = submit(t.inc(t.slow_inc(1, 6.0, tag=tag + "b"), tag=tag + "c"), name="lapse")
    token = canvas.executor_token(run.id, 2048, "root", 1)
    until(lambda: counts(tag + "b") >= 1, timeout_s=60, what="the slow task to start")
    lease_key = keys.lease(run.id, token)
    holder = redis_server.get(lease_key)
    assert holder
    redis_server.delete(lease_key)
    back = until(lambda: redis_server.get(lease_key), timeout_s=30, what="the lease held again")
    assert back == holder  # the same process took it back; not a new delivery
    assert run.result(timeout=60) == 3
    assert (counts(tag + "b"), counts(tag + "c")) == (1, 1)


def _pairwise(level: list):
    while len(level) > 1:
        level = [t.add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)] + level[len(level) // 2 * 2 :]
    return level[0]


def test_executors_whose_leases_lapse_while_they_pop_lose_no_task(live, redis_server, settings):
    """A tree reduction on two executors (the worker's third process is free for take-overs). Twice, both
    executors' leases lapse at once while they are alive and popping — the keys vanish and the reaper finds
    them expired, as after Redis or the machine stalled — so the reaper sends both again and a new delivery
    may take a branch over while its old one still pops. Whatever the old delivery does after that is
    refused (``store.fencing``); the new one runs everything the old one held: no task is lost, the run
    ends with the right sum. (Unfenced, the old delivery popped tasks after the new one had read what it
    held, then stopped on hearing it was taken over: those tasks never ran and the run stalled — a
    100,000-task tree under load did.)"""
    settings.SLAFLOW_FLEX_EXECUTORS = 2
    n = 1000
    run = submit(_pairwise([t.slow_inc(i, 0.005) for i in range(n)]), name="lapsing-executors")
    tokens = [canvas.executor_token(run.id, 2048, "root", k) for k in (1, 2)]

    def holding() -> bool:
        return all(
            redis_server.get(keys.lease(run.id, tk)) and redis_server.llen(keys.held(run.id, tk)) for tk in tokens
        )

    for _ in range(2):  # two lapses: at most three deliveries (SLAFLOW_MAX_DELIVERIES)
        until(holding, timeout_s=60, every_s=0.01, what="both executors holding their leases and popping")
        for tk in tokens:
            redis_server.delete(keys.lease(run.id, tk))
            redis_server.zadd(keys.lease_index(), {f"{run.id}|{tk}": 0})
    assert run.result(timeout=120) == sum(range(1, n + 1))
    assert WorkflowRun.objects.get(pk=run.id).status == "succeeded"


def test_a_hung_task_is_stopped_at_its_time_limit(live):
    t0 = time.monotonic()
    run = submit(t.inc(t.hang(1)), name="hung", timeout_s=1.5)
    with pytest.raises(RunFailed, match=r"task 'hang-0' exceeded its time limit of 1\.5 s"):
        run.result(timeout=60)
    assert time.monotonic() - t0 < 20
    assert TaskRun.objects.get(run_id=run.id, node_id="hang-0").status == "failed"


def test_a_task_that_ignores_being_stopped_has_its_process_killed(live):
    """``stubborn`` swallows the interrupt: its process is killed, and the redelivered branch fails the task
    with the limit instead of running it again."""
    slow = t.stubborn.with_options(timeout_s=1.0)
    run = submit(t.inc(slow(1)), name="stubborn")
    with pytest.raises(RunFailed, match=r"task 'stubborn-0' exceeded its time limit of 1 s"):
        run.result(timeout=90)
    assert submit(t.inc(1), name="after-stubborn").result(timeout=60) == 2  # its pool slot was freed


def test_per_task_limits_from_the_json_spec_are_kept(live):
    from slaflow import submit_spec

    spec = {"nodes": [{"id": "h", "function": "tests.taskfns.hang", "args": [1], "options": {"timeout_s": 1}}]}
    with pytest.raises(RunFailed, match="exceeded its time limit of 1 s"):
        submit_spec(spec, name="spec-limit").result(timeout=60)


def test_cancel_stops_running_tasks_and_frees_their_slots(live, counts, uncapped_executors):
    # Six executors for six hung tasks, so every process of the pool hangs (capped at the host's cores, one
    # would stay free for the next run whether the cancel freed the others or not).
    tag = f"cancel6-{time.time_ns()}"
    run = submit(t.total([t.hang(i, tag=tag) for i in range(6)]), name="six-hung")
    until(lambda: counts(tag) >= 3, timeout_s=60, what="hung tasks running")  # the test pools hold 3
    t0 = time.monotonic()
    assert cancel_run(run.id)
    assert submit(t.inc(1), name="after-cancel").result(timeout=30) == 2
    assert time.monotonic() - t0 < 15
    until(
        lambda: not TaskRun.objects.filter(run_id=run.id, status__in=["pending", "running"]).exists(),
        timeout_s=30,
        what="the cancelled run's tasks settled",
    )
    statuses = dict(TaskRun.objects.filter(run_id=run.id).values_list("node_id", "status"))
    assert set(statuses.values()) == {"cancelled"}
    with pytest.raises(RunCancelled):
        run.result(timeout=5)


def test_retries_record_every_attempt_and_keep_readiness_exactly_once(live, counts):
    tag = f"flaky-{time.time_ns()}"
    retried = t.flaky.with_options(retries=3, retry_backoff_s=0.05, retry_on=[ConnectionError])
    run = submit(t.inc(retried(10, tag=tag, failures=2)), name="flaky")
    assert run.result(timeout=60) == 10 + 3 + 1
    row = TaskRun.objects.get(run_id=run.id, node_id="flaky-0")
    assert row.attempts == 3 and [e["attempt"] for e in row.attempt_errors] == [1, 2]
    assert "ConnectionError: attempt 1" in row.attempt_errors[0]["error"]
    assert TaskRun.objects.get(run_id=run.id, node_id="inc-0").attempts == 1

    tag2 = f"flaky2-{time.time_ns()}"
    run = submit(t.inc(retried(10, tag=tag2, failures=9)), name="flaky")
    with pytest.raises(RunFailed) as err:
        run.result(timeout=60)
    assert "after 4 attempts: attempt 1: ConnectionError" in str(err.value) and "attempt 3:" in str(err.value)
    assert counts(tag2) == 4

    tag3 = f"flaky3-{time.time_ns()}"
    run = submit(retried(10, tag=tag3, failures=1, error="ValueError"), name="flaky")
    with pytest.raises(RunFailed, match="ValueError"):
        run.result(timeout=60)
    assert counts(tag3) == 1  # not a ConnectionError: no retry


def test_a_task_killed_for_memory_is_recorded_as_failed_saying_so(live, settings):
    settings.SLAFLOW_DEFAULT_MEMORY_MB = 512  # WUKONG on the 512 MB configuration
    run = submit(t.inc(t.hog(900)), name="oom")
    with pytest.raises(RunFailed) as err:
        run.result(timeout=120)
    assert "killed: out of memory on the 512 MB configuration" in str(err.value)
    row = TaskRun.objects.get(run_id=run.id, node_id="hog-0")
    assert row.status == "failed" and row.attempts == 3 and "out of memory" in row.error


def test_a_run_past_its_deadline_fails(live):
    run = submit(t.inc(t.hang(1)), name="deadline", deadline_s=1.0)
    with pytest.raises(RunFailed, match=r"exceeded its deadline of 1 s"):
        run.result(timeout=60)
    until(
        lambda: TaskRun.objects.get(run_id=run.id, node_id="hang-0").status in ("cancelled", "skipped"),
        timeout_s=30,
        what="the hung task stopped",
    )


def test_bad_limits_and_non_finite_constants_are_refused_alike_everywhere(live):
    before = WorkflowRun.objects.count()
    with pytest.raises(SubmissionError, match=r"node 'inc-0' args\[0\] holds nan"):
        submit(t.inc(float("nan")), name="nan")
    with pytest.raises(SubmissionError, match="timeout_s must be a number of seconds > 0"):
        submit(t.inc(1), name="bad", timeout_s=-1)
    with pytest.raises(TypeError, match="option 'retries' must be a whole number"):
        t.inc.with_options(retries=-1)
    from slaflow import submit_spec

    with pytest.raises(SubmissionError, match="unknown option\\(s\\) 'retires'"):
        submit_spec(
            {"nodes": [{"id": "a", "function": "tests.taskfns.inc", "args": [1], "options": {"retires": 2}}]},
            name="typo",
        )
    assert WorkflowRun.objects.count() == before
