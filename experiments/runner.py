"""Running library workflows from commands: a cluster if needed, submit, wait, summarise."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from orchestrator.handles import RunCancelled, RunFailed, RunHandle
from orchestrator.services import runs as run_services, selectors, submissions
from slaflow import workflows


@contextlib.contextmanager
def running(start: Callable[[], object], refused: type[Exception] | tuple[type[Exception], ...]) -> Iterator[object]:
    """Yield what ``start()`` started (a cluster, simulated hosts: anything with ``stop()``), stopped afterwards;
    ``refused`` (why it could not start) becomes a CommandError naming it."""
    from django.core.management.base import CommandError

    try:
        started = start()
    except refused as exc:
        raise CommandError(str(exc)) from None
    try:
        yield started
    finally:
        started.stop()


@contextlib.contextmanager
def cluster_if_needed(log=print) -> Iterator[object | None]:
    """Yield the running cluster we started, or None when workers already serve every queue."""
    from localcluster.embedded_redis import NoRedisServer
    from localcluster.launcher import LocalCluster, cluster_needed

    if not cluster_needed():
        yield None
        return
    log("no slaflow worker serves every resource-config queue: starting a local cluster for this command…")
    with running(lambda: LocalCluster().start(), NoRedisServer) as cluster:
        yield cluster


def parse_params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {pair!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def library_graph(name: str, params: dict) -> tuple[dict, dict]:
    """A library workflow's graph and its coerced parameters (the submission service's, with its checks)."""
    return submissions.library_graph(name, params)


def submit_library(name: str, *, planner: str, sla: str, params: dict, owner=None, **limits) -> tuple[RunHandle, dict]:
    """Through the one submission service every entry point uses (its checks: planner, SLA, parameters,
    the task budget, plain JSON)."""
    run = run_services.submit_library(user=owner, workflow=name, params=params, planner=planner, sla=sla, **limits)
    return RunHandle(run.pk), run.params


def run_and_check(
    name: str,
    *,
    planner: str,
    sla: str,
    params: dict,
    timeout_s: float,
    optimizations: list[str] | None = None,
    watch=None,
) -> dict:
    """Run one library workflow to the end; the summary says whether its result checks out.
    ``optimizations``: applied by rule instead of the planner's own (None: the planner's); ``watch(run_id,
    live)``: called about once a second with the run's live prediction (``RunHandle.live``) while it runs."""
    extra = {} if optimizations is None else {"optimizations": list(optimizations)}
    handle, values = submit_library(name, planner=planner, sla=sla, params=params, **extra)
    wf = workflows.get(name)
    correct = None
    try:
        result = handle.result(  # once the run has ended: its summary is read next
            timeout=timeout_s, on_poll=None if watch is None else lambda: watch(handle.id, handle.live()), early=False
        )
        correct = bool(wf.check(result, **values))
    except (RunFailed, RunCancelled):
        pass
    summary = selectors.run_summary(handle.id)
    summary["correct"] = correct
    summary["params"] = values
    return summary
