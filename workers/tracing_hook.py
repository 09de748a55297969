"""The runtime hook that traces a branch (``workers.tracing``; on with ``SLAFLOW_OTEL``).

First in the chain, so its ``before_*`` stages run before every other hook's and its ``after_*``
after them: a stage span covers the other hooks' work at that stage too. Spans:

- ``slaflow.branch`` from ``branch_start`` to ``branch_end``, under the trace context the branch
  message carried (``tracing.incoming``) or else the run span (``RunContext.trace``);
- ``slaflow.task`` per task, from ``before_inputs`` until the task is done and its children are sent;
- ``inputs``, ``execute``, ``upload`` (output and counters) and ``dispatch`` under it.

While a stage runs, its span is the current one (``tracing.set_current``): branch messages sent
then — children dispatched, executors launched, a generator's streaming consumers — carry it. A
task that fails ends its spans with an error status; a task a hook skipped, or a branch that
stopped, ends what it had open at the next task or at the branch's end.
"""

from __future__ import annotations

from workers import tracing
from workers.hooks import Hook


class Tracing(Hook):
    name = "tracing"

    def __init__(self):
        self.branch_span = None
        self.task_span = None
        self.stage_span = None

    # --- the branch ---------------------------------------------------------------------

    def branch_start(self, branch) -> None:
        carrier = tracing.incoming_carrier() or getattr(branch.ctx, "trace", None)
        s = branch.startup
        self.branch_span = tracing.start_span(
            "slaflow.branch",
            carrier=carrier,
            attributes={
                "slaflow.run_id": branch.run_id,
                "slaflow.branch": branch.token,
                "slaflow.worker": s.worker_id,
                "slaflow.memory_mb": s.memory_mb,
                "slaflow.executor": branch.is_executor,
                "slaflow.cold": s.cold,
                "slaflow.startup_reason": s.reason,
                "slaflow.delivery": branch.delivery,
                "host.name": s.host,
                "process.pid": s.pid,
                "slaflow.entries": list(branch.entries),
            },
        )
        tracing.set_current(self.branch_span)

    def branch_end(self, branch) -> None:
        self._end_task()
        if self.branch_span is not None:
            self.branch_span.set_attribute("slaflow.tasks", len(branch.records))
            self.branch_span.set_attribute("slaflow.stopped", bool(branch.stopped))
            if branch.failure is not None:
                _error(self.branch_span, branch.failure.error)
            self.branch_span.end()
        tracing.set_current(None)
        self.branch_span = None

    # --- a task and its stages ------------------------------------------------------------

    def before_inputs(self, branch, task) -> None:
        self._end_task()  # a task a hook skipped left its spans open
        node = task.node
        self.task_span = tracing.start_span(
            "slaflow.task",
            parent=self.branch_span,
            attributes={
                "slaflow.run_id": branch.run_id,
                "slaflow.node": node.id,
                "slaflow.function": node.function,
                "slaflow.planned_worker": branch.ctx.worker_of(node.id),
            },
        )
        self._stage("inputs")

    def before_execute(self, branch, task) -> None:
        self._stage("execute")

    def before_upload(self, branch, task) -> None:
        self._stage("upload")
        self.stage_span.set_attribute("slaflow.upload", bool(task.upload))
        self.stage_span.set_attribute("slaflow.output_bytes", len(task.data or b""))

    def before_dispatch(self, branch, task) -> None:
        self._stage("dispatch")

    def after_inputs(self, branch, task) -> None:
        self._end_stage()

    def after_execute(self, branch, task) -> None:
        self._end_stage()

    def after_complete(self, branch, task) -> None:
        self._end_stage()
        if not (task.dispatch or (task.finished and task.finished.executors)):
            self._end_task(status=task.record.status)

    def after_dispatch(self, branch, task) -> None:
        if self.stage_span is not None:
            self.stage_span.set_attribute("slaflow.messages", int(task.record.invocations or 0))
        self._end_stage()
        self._end_task(status=task.record.status)

    def task_failed(self, branch, task, error: str) -> None:
        if self.stage_span is not None:
            _error(self.stage_span, error)
        if self.task_span is not None:
            _error(self.task_span, error)
        self._end_task(status="failed")

    # --- helpers ----------------------------------------------------------------------------

    def _stage(self, name: str) -> None:
        self._end_stage()
        self.stage_span = tracing.start_span(name, parent=self.task_span)
        tracing.set_current(self.stage_span)

    def _end_stage(self) -> None:
        if self.stage_span is not None:
            self.stage_span.end()
            self.stage_span = None
        tracing.set_current(self.task_span or self.branch_span)

    def _end_task(self, status: str | None = None) -> None:
        self._end_stage()
        if self.task_span is not None:
            if status:
                self.task_span.set_attribute("slaflow.status", status)
            self.task_span.end()
            self.task_span = None
        tracing.set_current(self.branch_span)


def _error(span, message: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, message[:500]))
