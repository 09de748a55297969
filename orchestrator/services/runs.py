"""Writes about runs: submit, one function per state transition, results, finalization.

Views, commands, the Python API and the runtime (through ``workers.ledger``) all come through here.
Every submission — a graph (``submit_run``), a library workflow (``submit_library``), a JSON spec
(``submit_spec``) — passes the one validator (``services.submissions.check``) before anything is stored.
Transitions are single conditional UPDATEs (``WHERE status IN sources``), so
two workers racing to end a run cannot both win, and a transition outside
``orchestrator.core.states.RUN_TRANSITIONS`` is impossible.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone as dt_timezone
from typing import Any, Iterable, TypedDict, Unpack

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, FloatField, Q, Sum
from django.utils import timezone

from orchestrator.core import codec, graph as graph_mod, resources, spec as spec_mod, startup as startup_kinds, states
from orchestrator.core.states import RunStatus, TaskStatus
from orchestrator.models import Plan, RunResult, TaskRun, WorkerStartup, Workflow, WorkflowRun
from orchestrator.services import alerts, bulk, optimization_stats, planning as planning_service, quotas, submissions
from orchestrator.services.errors import SubmissionError  # noqa: F401  (re-exported: callers import it here)
from store import dataplane, readiness
from store.redis_client import check as check_redis
from workers import canvas, functions, tracing, transport
from workers.context import build_meta, build_spec, put_meta

log = logging.getLogger("slaflow.runs")

PREVIEW_LIMIT_BYTES = 64 * 1024


def epoch_to_dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=dt_timezone.utc)


def submit_run(
    *,
    graph,
    name: str,
    planner: str = "wukong",
    sla: str = "p90",
    params: dict | None = None,
    owner=None,
    source: str = Workflow.Source.PYTHON,
    allowed_modules: Iterable[str] | None = None,
    timeout_s: float | None = None,
    deadline_s: float | None = None,
    optimizations: list[str] | None = None,
    max_tasks: int | None = None,
    webhook_url: str | None = None,
    rescue: bool | None = None,
) -> WorkflowRun:
    """Validate, store, plan and dispatch a run. Nothing is stored if validation fails. ``timeout_s``:
    the time limit of every task that sets none itself; ``deadline_s``: the run fails if it has not
    ended this long after it started; ``optimizations``: the ones the planner applies by rule (None:
    the planner's own — all of them for the ``-opt`` planners, none otherwise); ``max_tasks``: the
    most tasks the run may expand to, mapped elements counted (None: no bound beyond the map width).
    The owner's quotas (``services.quotas``) are checked in the transaction that stores the run.
    ``rescue``: re-plan the tasks not started yet when the run is predicted to miss its promise
    (``planning.rescue``; None: ``SLAFLOW_RESCUE``).

    Rows are written in bulk: the run, then — once planned — the plan and every TaskRun with its
    planned values in one INSERT (updating 1,000 rows after inserting them took 4 s)."""
    t0 = time.perf_counter()
    checked = submissions.check(
        graph=graph,
        name=name,
        planner=planner,
        sla=sla,
        owner=owner,
        allowed_modules=allowed_modules,
        timeout_s=timeout_s,
        deadline_s=deadline_s,
        optimizations=optimizations,
        max_tasks=max_tasks,
        webhook_url=webhook_url,
        rescue=rescue,
    )
    graph, spec, sla, optimizations = checked.graph, checked.spec, checked.sla, checked.optimizations
    rescue, webhook_url = checked.rescue, checked.webhook_url
    quotas.check_timeouts(owner, graph, timeout_s)
    check_redis()
    shash = graph_mod.structure_hash(graph)
    sink = graph_mod.sink(graph)
    inputs_hash = spec_mod.inputs_hash(spec)
    t1 = time.perf_counter()
    with transaction.atomic():
        quotas.admit(owner, lock=True)
        workflow, created = Workflow.objects.only("id").get_or_create(
            name=name, structure_hash=shash, defaults={"spec": spec, "task_count": len(graph), "source": source}
        )
        latest = WorkflowRun.objects.filter(workflow=workflow).order_by("-id").values_list("inputs_hash", flat=True)
        if not created and latest[:1].first() != inputs_hash:
            Workflow.objects.filter(pk=workflow.pk).update(spec=spec)  # the spec of the latest inputs
        run = WorkflowRun.objects.create(
            workflow=workflow,
            owner=owner,
            planner=planner,
            sla=sla,
            params=params or {},
            spec=spec,
            inputs_hash=inputs_hash,
            task_timeout_s=timeout_s,
            deadline_s=deadline_s,
            webhook_url=webhook_url or "",
        )
    _transition(run.pk, RunStatus.PLANNING)
    t2 = time.perf_counter()
    try:
        plan = planning_service.make_plan(
            graph,
            planner=planner,
            sla=sla,
            structure_hash=shash,
            inputs_hash=inputs_hash,
            optimizations=optimizations,
            owner=owner,
        )
    except Exception as exc:
        log.exception("planning run %s failed", run.pk)
        bulk.insert(
            TaskRun, [{"run_id": run.pk, "node_id": nid, "function": node.function} for nid, node in graph.items()]
        )
        fail_run(run.pk, error=f"planning failed: {type(exc).__name__}: {exc}", traceback="", node_id="")
        raise
    t3 = time.perf_counter()
    with (
        transaction.atomic(),
        tracing.run_span(run.pk, workflow=name, planner=planner, sla=sla, tasks=len(graph)) as trace,
    ):  # the plan, its tasks, running: one commit
        _store_plan(run, plan, graph)
        t4 = time.perf_counter()
        started = time.time()
        group = canvas.emit(plan, graph, run.pk)
        put_meta(
            run.pk,
            build_meta(
                run_id=run.pk,
                structure_hash=shash,
                inputs_hash=inputs_hash,
                started_at=started,
                sink=sink,
                plan=plan.compact(graph),
                default_memory_mb=resources.default().memory_mb,
                timeout_s=timeout_s,
                trace=trace,
                max_tasks=max_tasks,
                rescue=rescue,
            ),
            build_spec(graph, spec),
        )
        executors = canvas.root_executors(plan, graph, run.pk)
        readiness.queue_roots(run.pk, canvas.flexible_roots(plan, graph), executors)
        dataplane.register_branches(run.pk, canvas.branch_args(group))
        dataplane.add_live(run.pk, canvas.tokens_of(group))
        if deadline_s:
            dataplane.set_deadline(run.pk, started + deadline_s)
        alerts.watch(run.pk, started_at=started, plan=plan, rescue=rescue)  # live tracking against the promise
        timings = {
            "validate_s": t1 - t0,
            "store_s": (t2 - t1) + (t4 - t3),
            "plan_s": t3 - t2,
            "dispatch_s": time.perf_counter() - t4,
            "root_messages": len(group.tasks),
        }
        _transition(
            run.pk,
            RunStatus.RUNNING,
            started_at=epoch_to_dt(started),
            timings={k: round(v, 6) for k, v in timings.items()},
        )
        # Enqueue only once the rows workers will read are committed.
        transaction.on_commit(lambda: transport.send(group.tasks))
    return WorkflowRun.objects.defer("spec", "params").get(pk=run.pk)


def planned_fields(tp, critical: bool) -> dict:
    """A TaskRun's planned columns from its ``TaskPlan`` (``critical``: on the plan's critical path)."""
    return {
        "planned_memory_mb": tp.memory_mb,
        "planned_worker": tp.worker or "",
        "planned_startup": tp.startup if tp.startup != startup_kinds.UNKNOWN else "",
        "planned_startup_s": tp.startup_s,
        "planned_start_s": tp.start_s,
        "planned_end_s": tp.end_s,
        "planned_download_s": tp.download_s,
        "planned_exec_s": tp.exec_s,
        "planned_upload_s": tp.upload_s,
        "planned_input_bytes": tp.input_bytes,
        "planned_output_bytes": tp.output_bytes,
        "planned_critical": critical,
    }


def plan_fields(plan) -> dict:
    """A Plan row's columns from a ``planning.plan.Plan`` (its run aside)."""
    return {
        "planner": plan.planner,
        "sla": plan.sla,
        "data": plan.to_dict(),
        "fallback": plan.fallback,
        "predicted_makespan_s": plan.predicted_makespan_s,
        "predicted_makespan_per_task_s": plan.predicted_makespan_per_task_s,
        "predicted_median_s": plan.predicted_median_s,
        "monte_carlo_s": plan.monte_carlo_s,
        "predicted_gb_seconds": plan.predicted_gb_seconds,
        "planning_time_s": plan.planning_time_s,
    }


def _store_plan(run: WorkflowRun, plan, graph) -> None:
    critical = set(plan.critical_path)
    rows = [
        {
            "run_id": run.pk,
            "node_id": nid,
            "function": node.function,
            **planned_fields(plan.tasks[nid], nid in critical),
        }
        for nid, node in graph.items()
    ]
    with transaction.atomic():
        Plan.objects.create(run=run, **plan_fields(plan))
        bulk.insert(TaskRun, rows)
        WorkflowRun.objects.filter(pk=run.pk).update(
            predicted_makespan_s=plan.predicted_makespan_s,
            predicted_gb_seconds=plan.predicted_gb_seconds,
            plan_note=plan.note,
        )


class RunOptions(TypedDict, total=False):
    """What a submission may set beyond its graph, planner and SLA (``submit_run`` says what each means)."""

    timeout_s: float | None
    deadline_s: float | None
    optimizations: list[str] | None
    webhook_url: str | None
    rescue: bool | None


def submit_library(
    *,
    user,
    workflow: str,
    params: dict | None,
    planner: str,
    sla: str,
    **options: Unpack[RunOptions],
) -> WorkflowRun:
    """Run a library workflow for ``user`` — every entry point (REST, the web launch form, the CLI, commands,
    campaigns) comes here: the graph built once, under the task budget (``submissions.library_graph``);
    nothing is stored if anything is wrong. A user over a quota is refused before the graph is built."""
    quotas.admit(user)
    sla = submissions.check_planner_and_sla(planner=planner, sla=sla)
    graph, values = submissions.library_graph(workflow, params)
    return submit_run(
        graph=graph,
        name=workflow,
        planner=planner,
        sla=sla,
        params=values,
        owner=user,
        source=Workflow.Source.LIBRARY,
        max_tasks=settings.SLAFLOW_API_MAX_TASKS,
        **options,
    )


def submit_spec(
    *,
    user,
    spec: Any,
    name: str | None,
    planner: str,
    sla: str,
    network: bool = True,
    **options: Unpack[RunOptions],
) -> WorkflowRun:
    """Run a JSON graph spec for ``user`` (REST, ``slaflow.submit_spec``), checked as a document first
    (``submissions.spec_graph``). ``network``: its functions must be built-ins or live in the registered
    workflow modules (``functions.registered_modules``); the Python API (False) may name any importable one."""
    quotas.admit(user)
    sla = submissions.check_planner_and_sla(planner=planner, sla=sla)
    graph = submissions.spec_graph(spec)  # the document first: the spec's own name is part of it
    chosen = submissions.spec_name(name, spec)
    return submit_run(
        graph=graph,
        name=chosen,
        planner=planner,
        sla=sla,
        owner=user,
        source=Workflow.Source.API if network else Workflow.Source.PYTHON,
        allowed_modules=functions.registered_modules() if network else None,
        max_tasks=settings.SLAFLOW_API_MAX_TASKS,
        **options,
    )


# --- transitions ----------------------------------------------------------------


def _transition(run_id: int, target: str, **fields) -> bool:
    """Move a run to ``target`` if its current state allows it; False otherwise."""
    sources = states.sources_of(target)
    return WorkflowRun.objects.filter(pk=run_id, status__in=sources).update(status=target, **fields) == 1


def fail_run(run_id: int, *, error: str, traceback: str, node_id: str) -> bool:
    changed = _transition(
        run_id,
        RunStatus.FAILED,
        error=error[:10000],
        error_traceback=traceback,
        failed_node=node_id,
        finished_at=timezone.now(),
    )
    if changed:
        dataplane.mark_over(run_id, RunStatus.FAILED)
        dataplane.signal_finished(run_id, RunStatus.FAILED)
    return changed


def cancel_run(run_id: int) -> bool:
    """Cancel a run: no further task starts, and every process running one of its tasks hears of it at
    once (``store.flags``) and stops it (``store.interrupts``); the last branch out settles the rest."""
    changed = _transition(run_id, RunStatus.CANCELLED, finished_at=timezone.now(), error="cancelled")
    if changed:
        dataplane.mark_over(run_id, RunStatus.CANCELLED)
        dataplane.signal_finished(run_id, RunStatus.CANCELLED)
        if dataplane.claim_finalize_if_idle(run_id):
            finalize_run(run_id)
    return changed


def store_result(run_id: int, data: "bytes | codec.Encoded", value) -> None:
    if len(data) > settings.SLAFLOW_MAX_RESULT_BYTES:
        raise codec.CodecError(
            f"the result is {len(data)} bytes, over SLAFLOW_MAX_RESULT_BYTES={settings.SLAFLOW_MAX_RESULT_BYTES}"
        )
    preview = value if len(data) <= PREVIEW_LIMIT_BYTES and codec.is_plain_json(value) else None
    described = codec.describe(value)
    with transaction.atomic():
        RunResult.objects.filter(run_id=run_id).delete()  # a redelivered sink stores it again
        # An encoded value's parts are streamed as they are (a big array's data is never joined first).
        bulk.insert_blob(
            RunResult, {"run_id": run_id, "created_at": timezone.now()}, "data", list(codec.parts_of(data))
        )
        WorkflowRun.objects.filter(pk=run_id).update(
            result_type=described["type"],
            result_bytes=len(data),
            result_preview=preview,
        )


def result_data(run_id: int) -> memoryview:
    """The run's stored result, encoded (``orchestrator.core.codec``). RunResult.DoesNotExist without one."""
    data = bulk.fetch_blob(RunResult, "data", run_id=run_id)
    if data is None:
        raise RunResult.DoesNotExist(f"run {run_id} has no stored result")
    return data


def finalize_run(run_id: int) -> None:
    """Called once, by the last branch to end: aggregate metrics, settle states, clean Redis."""
    t0 = time.perf_counter()
    run = WorkflowRun.objects.only("status", "started_at", "timings", "predicted_makespan_s").get(pk=run_id)
    sink_at = dataplane.sink_done_at(run_id)
    agg = WorkerStartup.objects.filter(run_id=run_id).aggregate(
        cpu_total=Sum("cpu_s"),
        n_cold=Count("id", filter=Q(cold=True)),
        n_warm=Count("id", filter=Q(cold=False)),
        n_unenforced=Count("id", filter=Q(enforced=False)),
        n_total=Count("id"),
        mb_seconds=Sum(F("memory_mb") * F("active_s"), output_field=FloatField()),
    )
    fields = {
        "gb_seconds": (agg["mb_seconds"] or 0.0) / 1024,
        "cpu_seconds": agg["cpu_total"] or 0.0,
        "cold_starts": agg["n_cold"],
        "warm_starts": agg["n_warm"],
        "resources_enforced": (agg["n_unenforced"] == 0) if agg["n_total"] else None,
        "optimizations": optimization_stats.summarize(run_id, run.started_at.timestamp() if run.started_at else None),
    }
    status = run.status
    if sink_at is not None and run.status == RunStatus.RUNNING and run.started_at:
        makespan = sink_at - run.started_at.timestamp()
        if _transition(run_id, RunStatus.SUCCEEDED, makespan_s=makespan, finished_at=epoch_to_dt(sink_at), **fields):
            status = RunStatus.SUCCEEDED
        else:
            status = WorkflowRun.objects.values_list("status", flat=True).get(pk=run_id)
    else:
        WorkflowRun.objects.filter(pk=run_id).update(**fields)
        status = WorkflowRun.objects.values_list("status", flat=True).get(pk=run_id)
    # Tasks left unfinished: skipped when the run failed before they began, else (begun, or the run ended
    # otherwise) cancelled — each row moved only as the task table allows.
    for leftover in ([TaskStatus.SKIPPED] if status == RunStatus.FAILED else []) + [TaskStatus.CANCELLED]:
        TaskRun.objects.filter(run_id=run_id, status__in=states.sources_of(leftover, states.TASK_TRANSITIONS)).update(
            status=leftover
        )
    branches = dataplane.overheads(run_id)
    started = run.started_at.timestamp() if run.started_at else None
    alerts.finished(
        run_id,
        makespan_s=sink_at - started if status == RunStatus.SUCCEEDED and started else None,
        promise_s=run.predicted_makespan_s,
        started_at=started,
    )
    dataplane.delete_run_data(run_id)
    dataplane.clear_deadline(run_id)
    timings = dict(run.timings or {}, finalize_s=round(time.perf_counter() - t0, 6))
    timings.update({("branches" if k == "branches" else f"branch_{k}"): round(v, 6) for k, v in branches.items()})
    WorkflowRun.objects.filter(pk=run_id).update(timings=timings)
    dataplane.signal_finished(run_id, status)
