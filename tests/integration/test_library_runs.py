"""Every library workflow on the real cluster: it succeeds and its result checks out."""
import pytest

from experiments import workflows
from experiments.runner import run_and_check
from orchestrator.authoring import build_graph
from orchestrator.models import TaskRun

pytestmark = [pytest.mark.integration]

# Per-workflow overrides of the defaults. The defaults are light enough for a 2-core test machine
# (this whole file takes under a minute there), so none are needed now.
PARAMS: dict[str, dict] = {}


@pytest.mark.parametrize("name", sorted(workflows.all_workflows()))
def test_library_workflow_runs_and_checks_out(live, name):
    wf = workflows.get(name)
    params = PARAMS.get(name, {})
    n_tasks = len(build_graph(wf.build(**wf.coerce(params))))
    summary = run_and_check(name, planner="wukong", sla="p90", params=params, timeout_s=180)
    assert summary["status"] == "succeeded", summary
    assert summary["correct"] is True, summary
    assert summary["makespan_s"] > 0
    assert summary["tasks"] == n_tasks
    assert TaskRun.objects.filter(run_id=summary["run_id"], status="succeeded").count() == n_tasks
