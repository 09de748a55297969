"""A handle on a submitted run: status, waiting, the result."""

from __future__ import annotations

import time
from typing import Any

from redis import RedisError

from orchestrator.core import codec
from orchestrator.core.states import RunStatus


class RunFailed(RuntimeError):
    """The run failed; carries the failing task, the error and its traceback."""

    def __init__(self, run_id: int, node_id: str, error: str, traceback: str):
        where = f" in task {node_id!r}" if node_id else ""
        super().__init__(f"run {run_id} failed{where}: {error}")
        self.run_id, self.node_id, self.error, self.traceback = run_id, node_id, error, traceback


class RunCancelled(RuntimeError):
    pass


class RunHandle:
    def __init__(self, run_id: int):
        self.id = run_id

    def __repr__(self) -> str:
        return f"<RunHandle {self.id} {self.status}>"

    @property
    def run(self):
        from orchestrator.models import WorkflowRun

        return WorkflowRun.objects.select_related("workflow").get(pk=self.id)

    @property
    def status(self) -> str:
        from orchestrator.dbretry import retrying
        from orchestrator.models import WorkflowRun

        return retrying(
            lambda: WorkflowRun.objects.values_list("status", flat=True).get(pk=self.id),
            f"reading run {self.id}'s status",
        )

    def live(self) -> dict | None:
        """The run's live prediction against its promise (``services.alerts.live_of``), None before one."""
        from orchestrator.models import WorkflowRun
        from orchestrator.services import alerts

        run = WorkflowRun.objects.only("predicted_makespan_s", "makespan_s", "alerts").get(pk=self.id)
        return alerts.live_of(run)

    def wait(self, timeout: float | None = None, on_poll=None, result: bool = False) -> str:
        """Block until the run is finished; returns its final status. Raises TimeoutError. ``on_poll()`` is
        called about once a second while it runs (progress displays). ``result``: return (the status,
        not final yet) as soon as a big result is published in the output store, before it is durable."""
        from store import dataplane

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status
            if status in RunStatus.finished():
                return status
            if result and dataplane.has_published_result(self.id):
                return status
            if on_poll is not None:
                on_poll()
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"run {self.id} still {status} after {timeout} s")
            try:
                dataplane.wait_finished(self.id, min(1.0, remaining), result=result)
            except RedisError:  # Redis restarting: the run's status is in the database; keep asking it
                time.sleep(min(0.5, max(remaining, 0.0)))

    def result(self, timeout: float | None = None, on_poll=None, early: bool = True) -> Any:
        """The sink's output. Raises RunFailed / RunCancelled instead of waiting forever.

        A big result (``workers.results``) is read from the output store as soon as it is published
        there and can be read on this host (mapped, checked against its checksum, copied: the value is
        the caller's to change) — while the run, still running, writes its durable copy: ``wait()`` for
        its final status. Otherwise (``early`` False, a small result, another host, that copy gone)
        the durable copy is read once the run has succeeded."""
        from orchestrator.dbretry import retrying
        from orchestrator.models import WorkflowRun
        from orchestrator.services import runs
        from store import dataplane

        deadline = None if timeout is None else time.monotonic() + timeout
        status = self.wait(timeout, on_poll, result=early)
        if status not in RunStatus.finished():
            try:
                published = None if dataplane.is_over(self.id) else dataplane.published_result(self.id)
            except RedisError:
                published = None
            if published is not None:
                return codec.loads(published.buf)
            status = self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()), on_poll)
        run = retrying(lambda: WorkflowRun.objects.only("failed_node", "error", "error_traceback").get(pk=self.id))
        if status == RunStatus.FAILED:
            raise RunFailed(self.id, run.failed_node, run.error, run.error_traceback)
        if status == RunStatus.CANCELLED:
            raise RunCancelled(f"run {self.id} was cancelled")
        return codec.loads(runs.result_data(self.id))
