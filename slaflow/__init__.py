"""slaflow's public Python API.

    from slaflow import task, submit

    @task
    def double(x): return 2 * x

    @task
    def total(xs): return sum(xs)

    run = submit(total([double(i) for i in range(4)]), name="doubles", planner="wukong", sla="p90")
    run.result(timeout=60)   # → 12

Task functions must live at module level in a module the workers import (the
built-in library, or one listed in SLAFLOW_WORKFLOW_MODULES).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from orchestrator.core.authoring import LazyNode, TaskFunction, build_graph, task
from orchestrator.core.graph import CycleError, GraphError
from orchestrator.executables import CommandFailed, command

if TYPE_CHECKING:  # run handles need Django: loaded on first use (below)
    from orchestrator.handles import RunHandle

__all__ = [
    "task",
    "command",
    "CommandFailed",
    "submit",
    "submit_spec",
    "build_graph",
    "RunHandle",
    "RunFailed",
    "RunCancelled",
    "GraphError",
    "CycleError",
    "TaskFunction",
    "LazyNode",
]


_HANDLES = ("RunHandle", "RunFailed", "RunCancelled")


def __getattr__(name: str):
    # Run handles need Django (run states); loaded on first use so that `slaflow.cli` (and so the
    # `slaflow` script) imports in a client-only install and can say what is missing.
    if name in _HANDLES:
        from orchestrator import handles

        return getattr(handles, name)
    raise AttributeError(f"module 'slaflow' has no attribute {name!r}")


def _django() -> None:
    from django.conf import settings

    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def submit(
    sink: LazyNode | list | dict,
    *,
    name: str | None = None,
    planner: str = "wukong",
    sla: str = "p90",
    params: dict | None = None,
    owner=None,
    timeout_s: float | None = None,
    deadline_s: float | None = None,
    optimizations: list[str] | None = None,
    webhook_url: str | None = None,
    rescue: bool | None = None,
) -> RunHandle:
    """Plan and start a run of the graph ending in ``sink`` (a list or a dict of nodes: its result is the
    list or the dict of their values); returns at once. ``timeout_s``: the time
    limit of every task that sets none itself; ``deadline_s``: the run fails if not ended by then;
    ``optimizations``: those the planner applies by rule (preload, prewarm, taskdup) instead of its own;
    ``webhook_url``: an http(s) URL POSTed when the run is predicted to miss its promise, and when it did;
    ``rescue``: when it is predicted to miss, re-plan its tasks not started yet onto the largest
    configuration (None: the ``SLAFLOW_RESCUE`` setting)."""
    _django()
    from orchestrator.handles import RunHandle
    from orchestrator.services.runs import submit_run

    graph = build_graph(sink)
    default = sink.task.fn.__name__ if isinstance(sink, LazyNode) else "workflow"
    run = submit_run(
        graph=graph,
        name=name or default,
        planner=planner,
        sla=sla,
        params=params,
        owner=owner,
        timeout_s=timeout_s,
        deadline_s=deadline_s,
        optimizations=optimizations,
        webhook_url=webhook_url,
        rescue=rescue,
    )
    return RunHandle(run.pk)


def submit_spec(
    spec: dict, *, name: str | None = None, planner: str = "wukong", sla: str = "p90", owner=None
) -> RunHandle:
    """Like ``submit`` for a JSON graph spec (see orchestrator.core.spec), checked as REST checks one
    (``services.submissions``: plain JSON, at most ``SLAFLOW_API_MAX_TASKS`` tasks); its functions may come
    from any importable module, as with ``submit``."""
    _django()
    from orchestrator.handles import RunHandle
    from orchestrator.services.runs import submit_spec as submit

    run = submit(user=owner, spec=spec, name=name, planner=planner, sla=sla, network=False)
    return RunHandle(run.pk)
