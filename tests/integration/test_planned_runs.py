"""Planned runs on real Celery workers: history from one run plans the next."""

import io
import json
import time

import pytest
from django.core.management import call_command

from orchestrator import planning
from orchestrator.core.authoring import build_graph
from orchestrator.core.spec import inputs_hash, to_spec
from orchestrator.models import Plan, TaskRun, WorkerStartup, WorkflowRun
from orchestrator.planning.plan import Plan as PlanData, TaskPlan
from slaflow import submit
from tests import taskfns as t

pytestmark = [pytest.mark.integration]


def fan_out_fan_in():
    """
            src
           /    \\
      slow_inc  slow_inc     1.2 s each: longer than a start-up, so they run in parallel
           \\    /
            add
    """
    src = t.value(1)
    return t.add(t.slow_inc(src, 1.2), t.slow_inc(src, 1.2))


def fan_out_fan_in_graph():
    return build_graph(fan_out_fan_in())


def test_second_run_uses_a_stored_plan_with_co_located_tasks_not_uploading(live, run_keys):
    first = submit(fan_out_fan_in(), name="planned-fan", planner="uniform", sla="p90")
    assert first.result(timeout=90) == 4
    plan1 = Plan.objects.get(run_id=first.id)
    assert plan1.fallback and "no history" in first.run.plan_note
    assert set(TaskRun.objects.filter(run_id=first.id).values_list("planned_worker", flat=True)) == {""}

    second = submit(fan_out_fan_in(), name="planned-fan", planner="uniform", sla="p90")
    assert second.result(timeout=90) == 4
    run = second.run
    plan = Plan.objects.get(run_id=second.id)
    assert not plan.fallback and plan.planner == "uniform"
    assert run.status == "succeeded" and run.predicted_makespan_s == pytest.approx(plan.predicted_makespan_s)
    assert run.predicted_gb_seconds > 0 and run.gb_seconds > 0
    # Same work as the first run (constants included): they plan from each other.
    assert run.inputs_hash and run.inputs_hash == first.run.inputs_hash == inputs_hash(to_spec(fan_out_fan_in_graph()))
    data = PlanData.from_dict(plan.data)
    rows = {tr.node_id: tr for tr in TaskRun.objects.filter(run_id=second.id)}
    # Planned fields are filled from the plan, and the run followed it.
    for nid, tp in data.tasks.items():
        tr = rows[nid]
        assert tr.planned_worker == tp.worker and tr.planned_memory_mb == tp.memory_mb == tr.memory_mb
        assert tr.worker_id == tp.worker and tr.planned_start_s == tp.start_s and tr.planned_exec_s == tp.exec_s
        assert tr.planned_critical == (nid in data.critical_path)
    workers = data.workers()
    assert len(workers) == 2  # the two slow tasks in parallel
    consumers = {nid: [c for c, tr in rows.items() if nid in {i["node"] for i in tr.inputs}] for nid in rows}
    co_located = [
        nid for nid, cs in consumers.items() if cs and all(data.tasks[c].worker == data.tasks[nid].worker for c in cs)
    ]
    assert co_located  # the critical slow task feeds add on its own worker
    for nid in co_located:
        assert rows[nid].uploaded is False, nid
        consumer_inputs = [i for c in consumers[nid] for i in rows[c].inputs if i["node"] == nid]
        assert all(i["local"] and i["download_s"] == 0 for i in consumer_inputs)
    # src feeds a consumer elsewhere: uploaded; so does the slow task on the other worker.
    assert rows["value-0"].uploaded is True
    sink = next(nid for nid, cs in consumers.items() if not cs)
    assert rows[sink].uploaded is True  # the result store
    assert run_keys(second.id) == []


def test_non_uniform_run_routes_every_task_to_its_planned_configuration(live):
    first = submit(fan_out_fan_in(), name="nu-fan", planner="non-uniform", sla="p50")
    assert first.result(timeout=90) == 4
    assert set(TaskRun.objects.filter(run_id=first.id).values_list("memory_mb", flat=True)) == {1024}  # middle
    second = submit(fan_out_fan_in(), name="nu-fan", planner="non-uniform", sla="p50")
    assert second.result(timeout=90) == 4
    plan = Plan.objects.get(run_id=second.id)
    assert not plan.fallback and plan.data["note"].startswith("non-uniform")
    for tr in TaskRun.objects.filter(run_id=second.id):
        assert tr.memory_mb == tr.planned_memory_mb
    for s in WorkerStartup.objects.filter(run_id=second.id):
        assert s.memory_mb == plan.data["tasks"][s.entry_nodes[0]]["memory_mb"]


def handmade(graph, predictor, config):
    r"""Worker W runs x, then — in a second branch, after y on worker V — z, then c.

          x(W)    y(V, 1 s)
            \       |
             \    z(W, a new branch of W)
              \   /
               c(W)

    W's first branch waits for c (its input z is remote to it); W's second branch
    runs z and completes c's last input: c is handed to the first branch, which
    must find z's output in Redis although z's consumer shares z's logical worker.
    """
    by_fn = {node.function.rsplit(".", 1)[1]: nid for nid, node in graph.items()}
    tasks = {
        by_fn["value"]: TaskPlan(by_fn["value"], 2048, worker="W", startup="cold", start_s=0.0, end_s=0.0),
        by_fn["slow_inc"]: TaskPlan(by_fn["slow_inc"], 2048, worker="V", startup="cold", start_s=0.0, end_s=1.0),
        by_fn["inc"]: TaskPlan(by_fn["inc"], 2048, worker="W", startup="warm", start_s=1.0, end_s=1.0),
        by_fn["add"]: TaskPlan(by_fn["add"], 2048, worker="W", startup="none", start_s=2.0, end_s=2.0),
    }
    return PlanData(planner=config.planner, sla=config.sla, tasks=tasks, note="hand-made")


def test_a_child_handed_to_another_branch_of_the_same_worker_finds_its_inputs(live, monkeypatch):
    monkeypatch.setitem(planning.PLANNERS, "handmade", handmade)
    run = submit(t.add(t.value(5), t.inc(t.slow_inc(1, 1.0))), name="handoff", planner="handmade")
    assert run.result(timeout=60) == 5 + 3
    rows = {tr.node_id: tr for tr in TaskRun.objects.filter(run_id=run.id)}
    add, inc = rows["add-0"], rows["inc-0"]
    assert inc.worker_id == add.worker_id == "W" and inc.branch_id != add.branch_id
    assert add.branch_id == rows["value-0"].branch_id  # the waiting first branch ran c
    assert inc.uploaded is True and rows["value-0"].uploaded is False
    assert {i["node"]: i["local"] for i in add.inputs} == {"value-0": True, "inc-0": False}


def test_run_workflow_reports_predictions_and_plan_prints_the_table(live):
    out = io.StringIO()
    call_command(
        "run_workflow",
        "diamond",
        "--planner",
        "uniform",
        "--sla",
        "p50",
        "--iterations",
        "2",
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["status"] == second["status"] == "succeeded" and second["correct"] is True
    assert first["predicted_makespan_s"] is None and "no history" in first["plan_note"]
    assert second["predicted_makespan_s"] > 0 and second["makespan_s"] > 0 and second["predicted_gb_seconds"] > 0
    table = io.StringIO()
    call_command("plan", "diamond", "--planner", "uniform", "--sla", "p50", stdout=table)
    text = table.getvalue()
    assert "planner uniform, SLA p50" in text and "promise (Monte Carlo at the SLA)" in text
    lines = [line for line in text.splitlines() if line.startswith(("source-0", "left-0", "right-0", "combine-0"))]
    assert len(lines) == 4 and any(line.rstrip().endswith("*") for line in lines)
    assert WorkflowRun.objects.filter(workflow__name="diamond").count() == 2  # plan ran nothing


def test_a_branch_can_block_five_seconds_for_a_hand_off(redis_server):
    """The runtime's last wait after withdrawing blocks up to 5 s; the Redis client must allow it."""
    from store import readiness

    t0 = time.monotonic()
    assert readiness.next_handed(10_000_101, "nobody", 5.5) is None
    assert time.monotonic() - t0 >= 5.0


def test_workers_publish_their_pools_and_plans_count_on_the_live_processes(live, settings, uncapped_executors):
    """Three parallel 1-second roots (three executors: more than this host's cores, on purpose) grow the
    default queue's pool to three processes; the worker
    publishes that, and the next plan knows those processes are there (cold, not to be spawned)."""
    from orchestrator.services import planning as service
    from store.pools import read_pools

    mb = settings.SLAFLOW_DEFAULT_MEMORY_MB
    wide = t.total([t.slow_inc(i, 1.0) for i in range(3)])
    run = submit(wide, name="pool-wide", planner="wukong")
    assert run.result(timeout=90) == 6
    assert len(set(WorkerStartup.objects.filter(run_id=run.id).values_list("pid", flat=True))) == 3
    assert read_pools().get(mb, 0) >= 3
    graph = build_graph(t.total([t.slow_inc(i, 1.0) for i in range(3)]))
    plan = service.make_plan(graph, planner="uniform", sla="p50", structure_hash=run.run.workflow.structure_hash)
    assert dict(map(tuple, plan.pool_processes)).get(mb, 0) >= 3
    # The workers also publish their host's cores: the plan says what it assumed.
    from store.pools import host_cores

    assert plan.capacity["cores"] == pytest.approx(host_cores()) and "published" in plan.capacity["source"]


def test_history_divides_out_the_contention_a_run_saw(live, settings, uncapped_executors):
    """Three CPU-bound roots (about 1 s each) on WUKONG's flexible branches: while more of them run
    than this host has cores, each one's recorded time includes waiting for a core; history keeps
    what it would take alone — less than observed, never less than its CPU time at its
    configuration's speed. Tasks that ran with a core each keep their time."""
    from orchestrator.planning.predictor import cpu_speed
    from orchestrator.services import planning as service
    from store.pools import host_cores

    run = submit(t.gather([t.cpu_burn(10_000_000 + k) for k in range(3)]), name="contended-burn", planner="wukong")
    run.result(timeout=120)
    rows = {r.id: r for r in TaskRun.objects.filter(run_id=run.id, function__endswith="cpu_burn")}
    stretch = service.contention_stretches([run.id])
    # Were more of them executing at once than there are cores (the pool grows one process at a time)?
    ends = sorted([(r.start_s, 1) for r in rows.values()] + [(r.end_s, -1) for r in rows.values()])
    running, most = 0, 0
    for _, step in ends:
        running += step
        most = max(most, running)
    slowed = [i for i in rows if stretch[i] > 1.05]
    if most <= host_cores():
        assert not slowed, (most, stretch)
        return
    assert slowed, (
        f"{most} CPU-bound tasks at once on {host_cores()} cores, no contention seen: {stretch} "
        f"{[(r.start_s, r.end_s, r.exec_s, r.cpu_s, r.enforced, r.memory_mb) for r in rows.values()]}"
    )
    for i in slowed:
        r = rows[i]
        busy = max(r.exec_s, r.end_s - r.start_s - (r.download_s or 0) - (r.upload_s or 0))
        alone = busy / stretch[i]
        assert r.cpu_s / cpu_speed(r.memory_mb) * 0.99 <= alone < busy
