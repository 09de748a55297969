"""Every library workflow on the real cluster, under every planner (WUKONG first: the others plan from its history):
each run succeeds and its result checks out."""

import pytest

from experiments.runner import run_and_check
from orchestrator.core.authoring import build_graph
from orchestrator.models import TaskRun
from slaflow import workflows

pytestmark = [pytest.mark.integration]

# Per-workflow overrides of the defaults: the optimization scenarios wait seconds on purpose (a straggler,
# a stage longer than the keep-alive window); the others are light enough for a 2-core test machine.
PARAMS: dict[str, dict] = {
    "straggler": {"straggle_s": 1.0, "work_s": 0.1},
    "scattered_fanin": {"size_mb": 2, "work_s": 0.1, "stagger_s": 0.1},
    "cold_stage": {"length": 2, "step_s": 0.2, "work_s": 0.2},
    "big_fanout": {"size_mb": 4, "side_s": 0.1},
    "big_transfer": {"size_mb": 20, "work_s": 0.1, "consume_s": 0.3},  # 20 MB: streamed where it travels
    "stream_pipeline": {"frames": 4, "frame_s": 0.05, "work_s": 0.05},
    "unix_words": {"words": 400},
    "dynamic_chunks": {"n": 200, "chunk": 25},
    "chain_and_stage": {"link_work": 300_000, "stage_work": 600_000},  # 0.9 CPU-s instead of 4.4
    "fixed_times": {"seconds": 0.05},  # 0.25 s of sleeps a chain instead of 1 s
    # 512² instead of 1024²: the same 130 tasks at a seventh of the CPU (tiles still in shared memory)
    "image_transformer": {"size": 512},
}
PLANNERS = ("wukong", "uniform", "non-uniform", "wukong-opt", "uniform-opt", "non-uniform-opt")  # the first: history


@pytest.mark.parametrize("name", sorted(workflows.all_workflows()))
def test_library_workflow_runs_and_checks_out(live, name):
    wf = workflows.get(name)
    params = PARAMS.get(name, {})
    n_tasks = len(build_graph(wf.build(**wf.coerce(params))))
    for planner in PLANNERS:
        summary = run_and_check(name, planner=planner, sla="p90", params=params, timeout_s=180)
        assert summary["status"] == "succeeded", (planner, summary)
        assert summary["correct"] is True, (planner, summary)
        assert summary["makespan_s"] > 0
        assert summary["tasks"] == TaskRun.objects.filter(run_id=summary["run_id"]).count()
        # (a dynamic map's element tasks, ``p[i]``, come on top of the graph's)
        assert (
            TaskRun.objects.filter(run_id=summary["run_id"], status="succeeded").exclude(node_id__contains="[").count()
            == n_tasks
        )
        if not planner.startswith("wukong"):  # WUKONG plans no configurations: it needs no history
            assert not summary["plan_note"].startswith("no history"), summary["plan_note"]
