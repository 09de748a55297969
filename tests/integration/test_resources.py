"""Resource configurations are real: a CPU-bound task gets the CPU share of its configuration."""

import pytest

from orchestrator.models import TaskRun, WorkflowRun
from slaflow import submit
from tests import taskfns as t
from workers import cgroups

pytestmark = [pytest.mark.integration]


def _burn_on(memory_mb: int, settings) -> TaskRun:
    settings.SLAFLOW_DEFAULT_MEMORY_MB = memory_mb
    run = submit(t.value(t.cpu_burn(5_000_000)), name=f"burn-{memory_mb}")
    run.result(timeout=180)
    return TaskRun.objects.get(run_id=run.id, node_id="cpu_burn-0")


def test_cpu_bound_task_is_slower_on_512_than_on_2048(live, settings):
    small = _burn_on(512, settings)
    big = _burn_on(2048, settings)
    assert (small.memory_mb, big.memory_mb) == (512, 2048)
    assert (small.cpus, big.cpus) == (0.29, 1.14)
    enforced, detail = cgroups.probe()
    if enforced:
        assert small.enforced and big.enforced
        # The quota caps the 512 MB process at 0.29 CPU however idle the machine is...
        assert small.cpu_s / small.exec_s < 0.36, (small.cpu_s, small.exec_s)
        # ...so it takes measurably longer: about 3.4x on an idle machine (0.29 CPU vs a full
        # core); the margin is wide because other load also slows the 2048 MB process.
        assert small.exec_s > 1.3 * big.exec_s, (small.exec_s, big.exec_s)
        assert WorkflowRun.objects.get(pk=small.run_id).resources_enforced is True
    else:  # machines without writable cgroups must say so on every record
        assert small.enforced is False and big.enforced is False, detail
        assert WorkflowRun.objects.get(pk=small.run_id).resources_enforced is False
