"""Synthetic runs with rich plans (worker assignments, predicted timings) for the page tests.

The real planners that predict timings are being built elsewhere; these rows
have exactly the shape ``submit_run`` and the branch runtime write.

        a          a, b, d on worker w1 (512 MB); c on w2 (1024 MB)
       / \\         planned critical path a → b → d
      b   c
       \\ /
        d
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from orchestrator.core import graph as graph_mod, spec as spec_mod
from orchestrator.core.graph import Node, Ref
from orchestrator.models import Plan, TaskRun, WorkerStartup, Workflow, WorkflowRun
from orchestrator.planning.plan import Plan as PlanData, TaskPlan
from orchestrator.services import runs

GRAPH = {
    "a": Node("a", "tests.taskfns.value", args=(1,)),
    "b": Node("b", "tests.taskfns.inc", args=(Ref("a"),)),
    "c": Node("c", "tests.taskfns.inc", args=(Ref("a"),)),
    "d": Node("d", "tests.taskfns.add", args=(Ref("b"), Ref("c"))),
}
# node: (worker, memory, planned start, planned exec, observed start, observed exec)
LAYOUT = {
    "a": ("w1", 512, 0.0, 0.5, 0.1, 0.5),
    "b": ("w1", 512, 0.5, 1.0, 0.6, 3.0),  # exec 3x the plan: a red cell
    "c": ("w2", 1024, 0.8, 0.5, 0.9, 0.52),
    "d": ("w1", 512, 1.5, 0.5, 3.7, 0.5),
}


def workflow(name: str = "synthetic-diamond") -> Workflow:
    wf, _ = Workflow.objects.get_or_create(
        name=name,
        structure_hash=graph_mod.structure_hash(GRAPH),
        defaults={"spec": spec_mod.to_spec(GRAPH), "task_count": len(GRAPH), "source": Workflow.Source.LIBRARY},
    )
    return wf


def plan_data(planner: str, sla: str, promise: float | None, predicted: bool) -> PlanData:
    tasks = {}
    for nid, (worker, mb, p_start, p_exec, _, _) in LAYOUT.items():
        tasks[nid] = TaskPlan(node_id=nid, memory_mb=mb, worker=worker if predicted else None)
        if predicted:
            tp = tasks[nid]
            tp.startup, tp.startup_s = ("cold", 0.2) if nid in ("a", "c") else ("none", None)
            tp.download_s, tp.exec_s, tp.upload_s = 0.0, p_exec, 0.01
            tp.start_s, tp.end_s = p_start, p_start + p_exec + 0.01
    return PlanData(
        planner=planner,
        sla=sla,
        tasks=tasks,
        note=f"synthetic {planner} plan",
        critical_path=["a", "b", "d"] if predicted else [],
        predicted_makespan_s=promise,
        predicted_median_s=promise / 1.25 if predicted and promise else None,
        monte_carlo_s=promise * 1.1 if predicted and promise else None,
        predicted_makespan_per_task_s=promise * 1.2 if predicted and promise else None,
        calibration={
            "runs": 12,
            "factor": 1.25,
            "steady_runs": 7,
            "basis": "runs that started no process",
            "residuals": [0.9, 1.0, 1.05, 1.1, 1.2],
        }
        if predicted
        else {},
        capacity={"cores": 2.0, "source": "published by the workers (1 host)", "contended_tasks": 3, "max_stretch": 1.5}
        if predicted
        else {},
        predicted_gb_seconds=1.2 if predicted else None,
        planning_time_s=0.001,
    )


def make_run(
    owner=None,
    *,
    planner: str = "uniform",
    sla: str = "p90",
    status: str = "succeeded",
    makespan: float | None = 4.2,
    promise: float | None = 2.1,
    predicted: bool = True,
    gb_seconds: float = 1.5,
    wf: Workflow | None = None,
    observed: bool = True,
) -> WorkflowRun:
    wf = wf or workflow()
    start = timezone.now() - timedelta(seconds=30)
    finished = status in ("succeeded", "failed", "cancelled")
    run = WorkflowRun.objects.create(
        workflow=wf,
        owner=owner,
        status=status,
        planner=planner,
        sla=sla,
        spec=wf.spec,
        started_at=start,
        finished_at=start + timedelta(seconds=makespan or 1) if finished else None,
        makespan_s=makespan if status == "succeeded" else None,
        predicted_makespan_s=promise if predicted else None,
        predicted_gb_seconds=1.2 if predicted else None,
        gb_seconds=gb_seconds if finished else None,
        cold_starts=2 if finished else 0,
        warm_starts=0,
        plan_note=f"synthetic {planner} plan",
        optimizations={"prewarm_sent": 1} if predicted else {},
    )
    pd = plan_data(planner, sla, promise, predicted)
    Plan.objects.create(run=run, **runs.plan_fields(pd))
    for nid, (worker, mb, _p_start, _p_exec, o_start, o_exec) in LAYOUT.items():
        fields = dict(
            run=run,
            node_id=nid,
            function=GRAPH[nid].function,
            status="pending",
            **runs.planned_fields(pd.tasks[nid], nid in pd.critical_path),
        )
        if observed and finished:
            wait = 0.05 if nid == "d" else 0.0
            fields.update(
                status="succeeded",
                attempts=1,
                memory_mb=mb,
                worker_id=worker if predicted else f"f:{nid}",
                startup="cold" if nid in ("a", "c") else "none",
                start_s=o_start,
                end_s=o_start + wait + o_exec + 0.02,
                input_wait_s=wait,
                download_s=wait,
                exec_s=o_exec,
                upload_s=0.01,
                uploaded=nid != "b",
                output_bytes=8,
                input_bytes=8,
                counter_update_s=0.002,
                dispatch_s=0.003,
                optimizations={"prewarm_hit": True} if nid == "c" and predicted else {},
            )
        TaskRun.objects.create(**fields)
    if observed and finished:
        for worker, mb, entry in (("w1", 512, "a"), ("w2", 1024, "c")):
            w = worker if predicted else f"f:{entry}"
            WorkerStartup.objects.create(
                run=run,
                branch_id=f"{run.pk}-{w}",
                worker_id=w,
                memory_mb=mb,
                entry_nodes=[entry],
                cold=True,
                reason="new-process",
                requested_at=start,
                started_at=start + timedelta(seconds=0.05),
                ready_at=start + timedelta(seconds=LAYOUT[entry][4]),
                ended_at=start + timedelta(seconds=4),
                startup_s=LAYOUT[entry][4],
                active_s=3.9,
                tasks=3 if worker == "w1" else 1,
                prewarmed=entry == "c" and predicted,
            )
    return run


# What every optimization records, in the shapes the runtime and ``optimization_stats`` write (clustering
# and streaming as the issue-15 runtime will): a clusters b into its branch and streams its output to c;
# d preloads b (early) and c (waited for at its start); c's branch was pre-warmed by a ping from a; c was
# duplicated.
OPT_TASKS = {
    "a": {
        "optimizations": {
            "clustered_children": ["b"],
            "not_uploaded_bytes": 3 << 20,
            "delayed_io": {"waited_s": 0.05, "picked": ["b"]},
            "streamed": {"bytes": 4096, "chunks": 4},
            "prewarm_sent": ["c"],
        }
    },
    "b": {"optimizations": {"clustered": "a"}},
    "c": {
        "optimizations": {"duplicated": {"by": "w1", "for": "d", "predicted_saving_s": 0.3}},
        "inputs": [{"node": "a", "bytes": 4096, "download_s": 0.01, "local": False, "via": "stream"}],
    },
    "d": {
        "optimizations": {"preload": ["b"], "preload_waited_s": 0.004},
        "inputs": [
            {"node": "b", "bytes": 8, "download_s": 0.01, "local": False, "via": "preload"},
            {"node": "c", "bytes": 8, "download_s": 0.02, "local": False},
        ],
    },
}
OPT_RUN = {
    "counts": {"preload": 1, "prewarm_sent": 1, "duplicated": 1, "clustered": 1},
    "preload": {"tasks": 1, "inputs": 1, "waited_s": 0.004},
    "prewarm": {
        "sent": 1,
        "taken": 1,
        "hits": 1,
        "handed_off": 0,
        "hit_rate": 1.0,
        "gaps_s": [0.04],
        "pings": {
            "c": {
                "sender": "a",
                "worker": "w2",
                "memory_mb": 1024,
                "gap_s": 0.04,
                "hit": True,
                "taken_by": 7,
                "started_on": 7,
                "handed_off": False,
            }
        },
    },
    "taskdup": {"dups": 1, "won": 1, "refused": 0, "predicted_saving_s": 0.3, "actual_saving_s": 0.2},
    "clustering": {
        "tasks": 1,
        "producers": 1,
        "bytes_not_uploaded": 3 << 20,
        "delayed": 1,
        "delayed_hits": 1,
        "delay_s": 0.05,
    },
    "streaming": {"outputs": 1, "bytes": 4096, "chunks": 4, "consumers": 1},
}


def add_optimizations(run: WorkflowRun) -> WorkflowRun:
    """Make a ``make_run`` run one whose plan used every optimization and whose tasks recorded them."""
    plan = Plan.objects.get(run=run)
    plan.data["tasks"]["d"]["annotations"] = {"preload": {"inputs": ["b", "c"]}}
    plan.data["tasks"]["c"]["annotations"] = {"prewarm": {"sender": "a", "memory_mb": 1024}}
    plan.save(update_fields=["data"])
    for nid, fields in OPT_TASKS.items():
        TaskRun.objects.filter(run=run, node_id=nid).update(**fields)
    WorkflowRun.objects.filter(pk=run.pk).update(optimizations=OPT_RUN)
    run.refresh_from_db()
    return run
