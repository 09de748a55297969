"""A run's flexible tasks execute no more at once than the cores of the hosts serving them (real workers)."""

import pytest

from orchestrator.models import TaskRun
from slaflow import submit
from store import pools
from tests import taskfns as t

pytestmark = [pytest.mark.integration]


def most_at_once(run_id: int, margin_s: float = 0.02) -> int:
    """The most tasks of the run executing at one moment, from their records (each span trimmed by
    ``margin_s`` at both ends: one process's consecutive tasks only touch). A body begins when it got its
    core (``store.cores``, recorded), else after its inputs."""
    events = []
    rows = TaskRun.objects.filter(run_id=run_id).values_list("start_s", "input_wait_s", "exec_s", "optimizations")
    for start, before, exec_s, opts in rows:
        body = (opts or {}).get("body_at_s")
        begin = (start + (before or 0.0) if body is None else float(body)) + margin_s
        end = begin - margin_s + exec_s - margin_s
        if end > begin:
            events += [(begin, 1), (end, -1)]
    now = most = 0
    for _, step in sorted(events):
        now += step
        most = max(most, now)
    return most


def test_wukong_runs_no_more_tasks_at_once_than_the_host_has_cores(live):
    """Twelve ready tasks of 0.3 s on a pool of 3 processes (the session's cluster) on this host: the run's
    executors are capped at the host's whole cores, not at the processes (a process per task beyond the
    cores only shares them, each task and the run slower)."""
    cores = max(1, int(pools.host_cores()))
    run = submit(t.total([t.slow_inc(t.value(k), 0.3) for k in range(12)]), name="capped-fanout", planner="wukong")
    assert run.result(timeout=90) == sum(range(1, 13))
    assert TaskRun.objects.filter(run_id=run.id, node_id__startswith="slow_inc").count() == 12
    spans = list(
        TaskRun.objects.filter(run_id=run.id)
        .order_by("start_s")
        .values_list("node_id", "branch_id", "pid", "start_s", "input_wait_s", "exec_s")
    )
    assert most_at_once(run.id) <= cores, spans
