"""Task states as the runtime and the services leave them: only the moves ``core.states`` allows."""

import pytest
from django.utils import timezone

from orchestrator.core import states
from orchestrator.core.states import RunStatus, TaskStatus
from orchestrator.models import TaskRun, Workflow, WorkflowRun
from orchestrator.services import runs

pytestmark = [pytest.mark.integration]


def ended_run(status: str, tasks: dict[str, str]) -> WorkflowRun:
    """A run that ended in ``status`` with its tasks (node → state) left as they were."""
    wf = Workflow.objects.create(name="states", structure_hash=status[0] * 40, spec={}, task_count=len(tasks))
    run = WorkflowRun.objects.create(
        workflow=wf,
        status=status,
        planner="uniform",
        sla="p90",
        spec={},
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    for nid, state in tasks.items():
        TaskRun.objects.create(run=run, node_id=nid, function="m.f", status=state)
    return run


@pytest.mark.django_db
def test_finalizing_a_failed_run_skips_the_tasks_that_never_began_and_cancels_the_one_that_had(redis_server):
    """A run failed while ``b`` ran and ``c``, ``d`` waited: ``c`` and ``d`` never began (skipped); ``b`` had
    begun, and a begun task cannot be skipped (running → skipped is no move of the table): cancelled."""
    before = {"a": TaskStatus.SUCCEEDED, "b": TaskStatus.RUNNING, "c": TaskStatus.PENDING, "d": TaskStatus.READY}
    run = ended_run(RunStatus.FAILED, before)

    runs.finalize_run(run.id)

    after = dict(TaskRun.objects.filter(run=run).values_list("node_id", "status"))
    assert after == {
        "a": TaskStatus.SUCCEEDED,
        "b": TaskStatus.CANCELLED,
        "c": TaskStatus.SKIPPED,
        "d": TaskStatus.SKIPPED,
    }
    assert all(states.allowed(before[n], after[n]) for n in before if before[n] != after[n])


@pytest.mark.django_db
def test_finalizing_a_cancelled_run_cancels_every_unfinished_task(redis_server):
    run = ended_run(RunStatus.CANCELLED, {"a": TaskStatus.RUNNING, "b": TaskStatus.PENDING, "c": TaskStatus.FAILED})

    runs.finalize_run(run.id)

    assert dict(TaskRun.objects.filter(run=run).values_list("node_id", "status")) == {
        "a": TaskStatus.CANCELLED,
        "b": TaskStatus.CANCELLED,
        "c": TaskStatus.FAILED,
    }
