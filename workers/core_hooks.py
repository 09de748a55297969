"""The hooks every branch runs: cancellation checks, metrics, the plan's upload rule, WUKONG's
"continue with one child". Optimizations add theirs after these (``hooks_for``).

The optimizations' runtime hooks are registered here, on the runtime side: ``OPTIMIZATIONS`` imports
each ``orchestrator.optimizations.<name>.runtime``; the rules layer (``orchestrator.optimizations``)
never imports a runtime module. A new optimization adds its runtime module to that tuple."""

from __future__ import annotations

import functools
import time

from django.conf import settings
from django.utils.module_loading import import_string

from orchestrator.optimizations import NAMES
from orchestrator.optimizations.clustering import runtime as clustering
from orchestrator.optimizations.preload import runtime as preload
from orchestrator.optimizations.prewarm import runtime as prewarm
from orchestrator.optimizations.streaming import runtime as streaming
from orchestrator.optimizations.taskdup import runtime as taskdup
from store import flags
from workers import tracing
from workers.hooks import Hook, StopBranch

# Each optimization's runtime module, by name (each has ``hooks(ctx) -> [Hook]``); a test keeps the names
# equal to the rules' (``orchestrator.optimizations.NAMES``).
OPTIMIZATIONS = {m.NAME: m for m in (preload, prewarm, taskdup, clustering, streaming)}


class RunFlags(Hook):
    """A run that is over (failed or cancelled) does no further stage: no input grabbing, no
    execution, no upload. The process hears of it at once (``store.flags``); the authoritative
    flag is read as each task begins. Nor does a branch whose lease was taken over (its process was
    frozen past the lease): the new holder runs it."""

    name = "run-flags"

    def _check(self, branch, task) -> None:
        if flags.announced_over(branch.run_id):
            raise StopBranch(f"run {branch.run_id} is over")
        if branch.lease_lost:
            raise StopBranch(f"branch {branch.token} was taken over by another delivery")

    before_inputs = before_execute = before_upload = _check


class StageMetrics(Hook):
    """Stamps each task's record at its stage boundaries: start, CPU time, waiting for inputs,
    end. A task ends once its output is stored: with the counters' round trip when it uploads,
    before it otherwise (the planner's model: inputs + exec + upload, then post-task overhead).
    Durations of the runtime's own calls (each download, the function, the upload) are measured
    where they happen."""

    name = "metrics"

    def before_inputs(self, branch, task) -> None:
        task.record.started_at = time.time()
        task.cpu0 = time.process_time()
        task.t_inputs = time.perf_counter()

    def after_inputs(self, branch, task) -> None:
        task.record.input_wait_s = time.perf_counter() - task.t_inputs

    def before_upload(self, branch, task) -> None:
        if not task.upload and not task.is_sink:
            self._end(task)

    def after_complete(self, branch, task) -> None:
        if task.record.finished_at is None or task.uploaded_now:  # a lazy upload turned out needed
            self._end(task)

    def task_failed(self, branch, task, error: str) -> None:
        if task.record.finished_at is None:
            self._end(task)

    @staticmethod
    def _end(task) -> None:
        task.record.finished_at = time.time()
        task.record.cpu_s = time.process_time() - task.cpu0


class PlanUploads(Hook):
    """The should-upload stage's baseline answer, from the plan's decision (``planning.uploads``):
    attach the output to the counters' call when a consumer elsewhere may need it — unless it is
    large (``SLAFLOW_LAZY_UPLOAD_BYTES``): then it is sent only if that call finds a child that
    will run outside this branch (the second input of a fan-in to finish runs it itself, so its
    output never needs to travel). Either way an output a consumer needs is in Redis in time."""

    name = "plan-uploads"

    def should_upload(self, branch, task) -> bool:
        return branch.ctx.uploads(task.node_id) and len(task.data) < settings.SLAFLOW_LAZY_UPLOAD_BYTES


class Rescued(Hook):
    """A run with rescue on (``planning.rescue``): before each task, the re-planned tasks are read once
    (``RunContext.refresh_rescue``); an executor does not keep a child re-planned onto another
    configuration (it is queued for a process of that size)."""

    name = "rescued"

    def before_execute(self, branch, task) -> None:
        branch.ctx.refresh_rescue()

    def local_children(self, branch, task):
        ctx = branch.ctx
        if branch.is_executor and any(
            ctx.memory_of(c) != branch.limits.memory_mb for c in ctx.children(task.node_id) if ctx.is_rescued(c)
        ):
            return 0
        return None


class KeepOneChild(Hook):
    """WUKONG: a flexible branch continues with one ready child; planned branches run only their
    own worker's tasks."""

    name = "keep-one-child"

    def local_children(self, branch, task) -> int:
        return 1 if branch.is_executor else 0


class CommandSandbox(Hook):
    """A task that runs a program records how it ran (``sandbox`` on its record: bubblewrap and the user,
    or loudly NONE and why; ``orchestrator.executables.sandbox``). Only in runs that have such tasks."""

    name = "command-sandbox"

    def before_execute(self, branch, task) -> None:
        from orchestrator.executables import FUNCTION, sandbox

        if task.node.function == FUNCTION:
            task.record.optimizations["sandbox"] = sandbox.current().describe()


def optimization_hooks(ctx) -> list[Hook]:
    """The runtime hooks of the optimizations a run's plan uses, in declared order (``NAMES``)."""
    used = {name for entry in ctx.plan.values() for name in (entry.get("a") or {})}
    return [hook for name in NAMES if name in used for hook in OPTIMIZATIONS[name].hooks(ctx)]


def hooks_for(ctx) -> list[Hook]:
    """The hooks of a branch of this run, in order: tracing when on (first: its spans wrap the other hooks'
    work), the built-in ones, those of the optimizations its plan uses, then ``SLAFLOW_HOOKS``."""
    traced: list[Hook] = []
    if tracing.enabled():
        from workers.tracing_hook import Tracing

        traced = [Tracing()]
    core = [RunFlags(), StageMetrics(), PlanUploads(), KeepOneChild()]
    if getattr(ctx, "rescue", False):
        core.append(Rescued())
    if getattr(ctx, "runs_commands", None) and ctx.runs_commands():
        core.append(CommandSandbox())
    return traced + core + optimization_hooks(ctx) + [cls() for cls in _extra()]


@functools.lru_cache(maxsize=None)
def _load(path: str) -> type:
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, Hook)):
        raise TypeError(f"SLAFLOW_HOOKS entry {path!r} is not a workers.hooks.Hook subclass")
    return cls


def _extra() -> list[type]:
    return [_load(path) for path in settings.SLAFLOW_HOOKS]
