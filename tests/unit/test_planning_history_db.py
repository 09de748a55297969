"""Loading history from TaskRun / WorkerStartup rows: bounded queries, the right samples."""

from datetime import datetime, timedelta, timezone

import pytest

from orchestrator.models import TaskRun, WorkerStartup, Workflow, WorkflowRun
from orchestrator.services import planning as service

pytestmark = pytest.mark.django_db
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def make_runs(n_runs: int, *, tasks: int = 5, shash: str = "h1", memory_mb: int = 2048):
    wf = Workflow.objects.create(name=f"wf-{shash}", structure_hash=shash, spec={}, task_count=tasks + 1)
    runs = []
    for r in range(n_runs):
        run = WorkflowRun.objects.create(workflow=wf, planner="uniform", sla="p90", spec={}, status="succeeded")
        rows = [
            TaskRun(
                run=run,
                node_id=f"t{k}",
                function="m.step",
                status="succeeded",
                memory_mb=memory_mb,
                exec_s=1.0 + r,
                input_bytes=100,
                output_bytes=50,
                counter_update_s=0.001,
                dispatch_s=0.002,
                uploaded=True,
                upload_s=0.003,
                download_s=0.004 if k else 0.0,
                inputs=[{"node": f"t{k - 1}", "bytes": 50, "download_s": 0.004, "local": False}] if k else [],
            )
            for k in range(tasks)
        ]
        rows.append(
            TaskRun(
                run=run,
                node_id="sink",
                function="m.sink",
                status="succeeded",
                memory_mb=memory_mb,
                exec_s=0.5,
                input_bytes=50,
                output_bytes=10,
                counter_update_s=None,
                uploaded=True,
                upload_s=0.02,
            )
        )
        TaskRun.objects.bulk_create(rows)
        runs.append(run)
    return wf, runs


def add_startup(
    run,
    branch: str,
    pid: int,
    *,
    ended: float,
    memory_mb: int = 1024,
    reason: str = "x",
    cold: bool = False,
    requested: float = 0.0,
    started: float = 0.0,
    ready: float | None = None,
    startup_s: float = 0,
    active_s: float = 1,
) -> None:
    """A process start-up row of ``run``; times in seconds after T0 (``ready``: ``started`` unless given)."""
    WorkerStartup.objects.create(
        run=run,
        branch_id=branch,
        memory_mb=memory_mb,
        host="h",
        pid=pid,
        cold=cold,
        reason=reason,
        requested_at=T0 + timedelta(seconds=requested),
        started_at=T0 + timedelta(seconds=started),
        ready_at=T0 + timedelta(seconds=started if ready is None else ready),
        ended_at=T0 + timedelta(seconds=ended),
        startup_s=startup_s,
        active_s=active_s,
    )


def test_history_is_bounded_per_function_and_memory():
    make_runs(30, tasks=10)  # 300 step samples, 30 sinks
    assert service.load_history("h1").size() < service.load_history("h1", runs=30).size()  # default: 10 runs
    h = service.load_history("h1", runs=30, per_key=40)
    assert len(h.tasks[("m.step", 2048)]) == 40
    assert {s.exec_s for s in h.tasks[("m.step", 2048)]} == {27.0, 28.0, 29.0, 30.0}  # the newest 4 runs
    assert len(h.tasks[("m.sink", 2048)]) == 30
    # The sink's result store is its own kind, not crowded out by 300 uploads.
    assert len(h.stores[2048]) == 30 and all(s.seconds == 0.02 for s in h.stores[2048])
    assert len(h.uploads[2048]) == 40 and len(h.downloads[2048]) == 40
    assert h.tasks[("m.step", 2048)][0].post_s == pytest.approx(0.003)


def test_only_the_latest_runs_of_the_same_structure_count():
    make_runs(12, shash="h2")
    make_runs(3, shash="other", memory_mb=512)
    h = service.load_history("h2", runs=5)
    assert {s.exec_s for s in h.tasks[("m.step", 2048)]} == {8.0, 9.0, 10.0, 11.0, 12.0}
    assert ("m.step", 512) not in h.tasks
    assert service.load_history("nothing").empty


def test_startup_samples_leave_out_waiting_for_a_busy_process():
    _, (run,) = make_runs(1, shash="h3")

    def startup(branch, requested, started, ready, ended, reason, pid=7):
        add_startup(
            run,
            branch,
            pid,
            cold=reason != "warm",
            reason=reason,
            requested=requested,
            started=started,
            ready=ready,
            ended=ended,
            startup_s=ready - requested,
            active_s=ended - started,
        )

    startup("b1", 0.0, 0.4, 0.5, 3.0, "new-process")  # spawned: 0.5 s
    startup("b2", 1.0, 3.01, 3.02, 4.0, "warm")  # queued behind b1 until 3.0: 0.02 s, not 2.02
    startup("b3", 5.0, 5.01, 5.03, 6.0, "warm")  # the process was idle: 0.03 s
    startup("b4", 20.0, 20.01, 20.05, 21.0, "idle")  # past the keep-alive window: cold, no spawn
    h = service.load_history("h3")
    assert [s.startup_s for s in h.startups[(1024, "new")]] == [pytest.approx(0.5)]
    assert [round(s.startup_s, 6) for s in h.startups[(1024, "warm")]] == [0.02, 0.03]
    assert [round(s.startup_s, 6) for s in h.startups[(1024, "cold")]] == [0.05]
    assert h.startups[(1024, "new")][0].billed_s == pytest.approx(0.1)


def test_spawn_samples_leave_out_waiting_for_the_spawns_before_them():
    """Three branches ask at once; the worker forks one process after another (each picked up
    0.15 s after the previous one): one spawn costs 0.41 s the first time and 0.16 s after."""
    _, (run,) = make_runs(1, shash="h3b")
    for k, started in enumerate((0.40, 0.55, 0.70)):
        add_startup(
            run,
            f"b{k}",
            20 + k,
            cold=True,
            reason="new-process",
            started=started,
            ready=started + 0.01,
            ended=2,
            startup_s=started + 0.01,
        )
    h = service.load_history("h3b")
    assert [round(x.startup_s, 6) for x in h.startups[(1024, "new")]] == [0.41, 0.16, 0.16]


def test_warm_processes_are_those_that_served_within_the_keep_alive_window(settings):
    settings.SLAFLOW_KEEPALIVE_S = 7.0
    _, (run,) = make_runs(1, shash="h4")
    now = T0.timestamp() + 100
    for pid, ended in ((1, 95.0), (2, 80.0), (3, 99.0)):
        add_startup(run, f"b{pid}", pid, memory_mb=512 * pid, ended=ended)
    warm = service.warm_processes("h4", now=now)
    assert warm == [(512, pytest.approx(5.0)), (1536, pytest.approx(1.0))]


def test_exec_samples_are_the_tasks_time_on_its_worker_apart_from_transfers():
    _, (run,) = make_runs(1, tasks=1, shash="h6")
    TaskRun.objects.filter(run=run, node_id="t0").update(
        start_s=1.0, end_s=3.5, exec_s=1.0, download_s=0.5, upload_s=0.3
    )
    (sample,) = service.load_history("h6").tasks[("m.step", 2048)]
    assert sample.exec_s == pytest.approx(2.5 - 0.5 - 0.3)  # encoding and state updates included


def test_run_factors_say_how_slow_each_run_was_as_a_whole():
    _, runs = make_runs(3, tasks=4, shash="h7")
    for k, run in enumerate(runs):  # run 2 takes twice as long on every task
        TaskRun.objects.filter(run=run).update(start_s=0.0, end_s=2.0 if k == 1 else 1.0)
    factors = service.load_history("h7").run_factors
    assert factors == {runs[0].pk: pytest.approx(1.0), runs[1].pk: pytest.approx(2.0), runs[2].pk: pytest.approx(1.0)}


def test_only_succeeded_runs_make_history():
    _, runs = make_runs(4, shash="h10")
    WorkflowRun.objects.filter(pk=runs[1].pk).update(status="failed")
    WorkflowRun.objects.filter(pk=runs[2].pk).update(status="running")
    assert {s.exec_s for s in service.load_history("h10").tasks[("m.step", 2048)]} == {1.0, 4.0}


def test_runs_that_followed_a_predictive_plan_are_preferred_once_there_are_a_few():
    from orchestrator.models import Plan

    _, runs = make_runs(5, shash="h8")
    for k, run in enumerate(runs):  # a no-history fallback, then four planned runs (of two planners)
        Plan.objects.create(
            run=run,
            planner="uniform" if k % 2 else "non-uniform",
            sla="p90",
            data={},
            fallback=k == 0,
            predicted_makespan_s=None if k == 0 else 1.0,
        )
    assert {s.exec_s for s in service.load_history("h8").tasks[("m.step", 2048)]} == {2.0, 3.0, 4.0, 5.0}
    Plan.objects.filter(run__in=runs[2:]).update(predicted_makespan_s=None)  # two planned runs: too few
    assert {s.exec_s for s in service.load_history("h8").tasks[("m.step", 2048)]} == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_runs_with_the_same_inputs_are_preferred_once_there_are_a_few():
    """Input bytes cannot tell image sizes apart when the size is a parameter: runs of the same spec
    (constants included) make the history as soon as there are two of them."""
    _, runs = make_runs(5, shash="h11")
    WorkflowRun.objects.filter(pk__in=[r.pk for r in runs[:3]]).update(inputs_hash="small")
    WorkflowRun.objects.filter(pk=runs[3].pk).update(inputs_hash="large")
    steps = lambda **kw: {s.exec_s for s in service.load_history("h11", **kw).tasks[("m.step", 2048)]}  # noqa: E731
    assert steps(inputs_hash="small") == {1.0, 2.0, 3.0}
    assert steps(inputs_hash="large") == {1.0, 2.0, 3.0, 4.0, 5.0}  # one run of its own: not enough yet
    WorkflowRun.objects.filter(pk=runs[4].pk).update(inputs_hash="large")
    assert steps(inputs_hash="large") == {4.0, 5.0}
    assert steps() == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_past_runs_for_calibration_carry_their_layout_and_only_the_same_inputs():
    from orchestrator.models import Plan

    _, runs = make_runs(4, shash="h12")
    for k, run in enumerate(runs):
        data = {
            "tasks": {"t0": {"worker": "w0", "memory_mb": 512}, "sink": {"worker": "w1", "memory_mb": 2048}},
            "warm_processes": [[512, 1.5]],
            "yield_before": ["sink"],
        }
        Plan.objects.create(
            run=run,
            planner="uniform",
            sla="p90",
            data=data,
            fallback=False,
            predicted_makespan_s=1.0,
            predicted_median_s=None if k == 0 else 0.8,
        )
    WorkflowRun.objects.filter(pk__in=[r.pk for r in runs]).update(makespan_s=2.0, inputs_hash="a")
    WorkflowRun.objects.filter(pk=runs[3].pk).update(makespan_s=3.0, inputs_hash="b")
    past = service.past_runs("h12", "a")
    assert len(past) == 2  # the first run has no typical makespan; the last had other inputs
    assert past[0].placement == {"t0": ("w0", 512), "sink": ("w1", 2048)}
    assert past[0].warm_processes == ((512, 1.5),) and past[0].yield_before == frozenset({"sink"})
    assert [p.makespan_s for p in service.past_runs("h12", None)] == [2.0, 2.0, 3.0]


def test_a_process_that_sat_out_the_latest_runs_is_still_warm_within_the_window(settings):
    """Warmth is a matter of time, not of how many runs went by: five quick runs ago still counts."""
    settings.SLAFLOW_KEEPALIVE_S = 7.0
    _, runs = make_runs(5, shash="h5")
    now = T0.timestamp() + 100
    for k, run in enumerate(runs):
        add_startup(run, f"b{k}", 10 + k, ended=94 + k)
    warm = service.warm_processes("h5", now=now)
    assert [round(ago, 3) for _, ago in warm] == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_fresh_process_factor_compares_a_new_process_first_branch_with_usual_times():
    """Tasks run 3× slower in the first branch of a spawned process than elsewhere (4 s each vs 1 s)."""
    _, runs = make_runs(3, shash="h8")
    for k, run in enumerate(runs):
        TaskRun.objects.filter(run=run).update(
            start_s=0.0, end_s=1.0, exec_s=0.5, download_s=0.0, upload_s=0.0, branch_id=f"br{k}"
        )
        add_startup(
            run,
            f"br{k}",
            30 + k,
            memory_mb=2048,
            cold=True,
            reason="new-process" if k == 2 else "warm",
            ended=5,
            active_s=5,
        )
    TaskRun.objects.filter(run=runs[2]).update(end_s=3.0)
    assert service.load_history("h8").fresh_factor == pytest.approx(3.0)
    WorkerStartup.objects.filter(run=runs[2]).update(reason="warm")
    assert service.load_history("h8").fresh_factor == 1.0


def test_history_is_scoped_to_the_runs_owner(settings, django_user_model):
    """Issue 23: a plan learns only from its owner's runs (runs without an owner are a scope of their own), so
    one user's slow runs of a shape never reach another's predictor, calibration or warm processes; the
    ``shared`` scope (every run of the shape) is the operator's explicit choice."""
    from orchestrator.models import Plan

    settings.SLAFLOW_KEEPALIVE_S = 7.0
    alice, bob = django_user_model.objects.create(username="alice"), django_user_model.objects.create(username="bob")
    _, runs = make_runs(3, shash="h13")  # steps of 1, 2 and 3 s
    now = T0.timestamp() + 100
    for run, owner, made in zip(runs, (alice, bob, None), (10.0, 20.0, 30.0)):
        WorkflowRun.objects.filter(pk=run.pk).update(owner=owner, makespan_s=made, inputs_hash="a")
        Plan.objects.create(
            run=run,
            planner="uniform",
            sla="p90",
            data={"tasks": {}},
            fallback=False,
            predicted_makespan_s=1.0,
            predicted_median_s=0.8,
        )
        add_startup(run, f"b{run.pk}", run.pk, memory_mb=512, ended=99)

    def seen(owner) -> tuple:
        steps = {s.exec_s for s in service.load_history("h13", owner=owner).tasks[("m.step", 2048)]}
        past = [p.makespan_s for p in service.past_runs("h13", "a", owner=owner)]
        return steps, past, len(service.warm_processes("h13", owner=owner, now=now))

    assert seen(alice) == ({1.0}, [10.0], 1)
    assert seen(bob) == ({2.0}, [20.0], 1)
    assert seen(None) == ({3.0}, [30.0], 1)
    settings.SLAFLOW_HISTORY_SCOPE = "shared"
    assert seen(bob) == ({1.0, 2.0, 3.0}, [10.0, 20.0, 30.0], 3)


def test_the_share_of_big_inputs_read_on_their_own_host_is_measured():
    """Readers of shared-memory outputs that mapped them (same host) against those that fetched them
    (another host): the planner prices a read on several hosts by this share. Redis reads do not count."""
    _, runs = make_runs(1, tasks=4)
    reads = {"t1": "shm", "t2": "shm", "t3": "remote"}
    for node, tier in reads.items():
        TaskRun.objects.filter(run=runs[0], node_id=node).update(
            inputs=[{"node": "x", "bytes": 8 << 20, "download_s": 0.01, "local": False, "tier": tier}]
        )
    assert service.load_history("h1").local_reads == pytest.approx(2 / 3)
    TaskRun.objects.filter(run=runs[0], node_id__in=list(reads)).update(
        inputs=[{"node": "x", "bytes": 50, "download_s": 0.004, "local": False}]
    )
    assert service.load_history("h1").local_reads is None  # none went through shared memory
