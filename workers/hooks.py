"""Hooks: how cross-cutting behaviour plugs into the branch runtime's stages.

A branch runs every task through fixed stages (``workers.runtime``)::

    branch_start
      before_inputs → [inputs] → after_inputs
      before_execute → [execute] → after_execute
      should_upload?  local_children?
      before_upload → [stream_output?] [upload + counters] [delay_upload?] → after_complete
      before_dispatch → [dispatch downstream: hand_off?] → after_dispatch
      [write_stream?]
    (task_failed when the task's function raised; while_waiting? while a branch waits for inputs)
    branch_end

Each stage gets the branch as a read-only ``BranchView`` and the task as an
``ActiveTask`` (``workers.view``): a hook reads both, notes what it did on the
task's record, and keeps any state of its own on itself.

Every stage is a documented no-op method of ``Hook``; a behaviour subclasses
it and overrides the stages it needs (cancellation checks, metrics, the
plan's upload rule, each optimization). A ``HookChain`` holds the branch's
hooks in order: ``branch_start`` and ``before_*`` run in that order,
``after_*``, ``task_failed`` and ``branch_end`` in reverse (the first hook
wraps the others, as dramatiq's middleware does).

*Decision* stages (``fetch_input``, ``should_upload``, ``local_children``,
``delay_upload``, ``stream_output``, ``write_stream``, ``while_waiting``, ``hand_off``) are answered
by one hook:
the first, in precedence order, whose answer is not ``None``. Where built-in
hooks and optimizations answer the same question, the order is declared in
one table, ``PRECEDENCE`` (stage → hook names, the winner first;
docs/concepts/optimizations.md shows it): two optimizations that both have an answer resolve
the same way every time, in every branch. A hook not in the table (e.g. from
``SLAFLOW_HOOKS``) with a ``precedence`` above 0 goes before every listed one,
otherwise after them; ties keep list order.

A hook changes the flow only by raising ``SkipTask`` (this task does none of
its remaining stages, e.g. another worker already ran it), ``StopBranch``
(the run is over: start nothing more) or, from ``fetch_input``,
``InputFailed`` and from ``write_stream`` ``OutputFailed`` (the task fails
with that message). Any other exception from a hook is a
bug: it is logged with the run, task, hook and stage, and with
``SLAFLOW_STRICT_HOOKS`` (on in the tests) it fails the run; otherwise the
stage goes on without that hook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from django.conf import settings

from orchestrator.core.states import StopBranch  # noqa: F401  (hooks raise it; store writes that are fenced too)

if TYPE_CHECKING:  # only for annotations: hooks never import the runtime
    from workers.view import ActiveTask, BranchView

log = logging.getLogger("slaflow.hooks")


@dataclass
class Input:
    """An input a hook provides instead of the data plane (``Hook.fetch_input``)."""

    value: Any
    size: int
    download_s: float = 0.0
    how: str = "hook"
    tier: str | None = None  # the output-store tier it came from (store.tiers), when it came from the store


class SkipTask(Exception):
    """Raised by a hook: this task does none of its remaining stages."""


class InputFailed(Exception):
    """Raised by a ``fetch_input`` hook: this input cannot be had (e.g. its stream failed); the task fails
    with this message."""


class OutputFailed(Exception):
    """Raised by a ``write_stream`` hook: the output could be neither streamed nor stored; the task fails
    with this message (``tb``: the traceback of what failed)."""

    def __init__(self, message: str, tb: str = ""):
        super().__init__(message)
        self.tb = tb


class HookError(RuntimeError):
    """A hook raised something other than SkipTask / StopBranch (re-raised in strict mode)."""


class Hook:
    """The hook interface: every stage is a no-op here. Override what you need."""

    #: shown in logs and records
    name = "hook"
    #: decision stages, for hooks not in ``PRECEDENCE``: above 0 goes before the listed hooks
    precedence = 0

    # --- the branch -------------------------------------------------------------
    def branch_start(self, branch: "BranchView") -> None:
        """The branch holds its lease and knows its run; no task has started."""

    def branch_end(self, branch: "BranchView") -> None:
        """The branch ran its last task (or stopped); its records are about to be written."""

    # --- one task -------------------------------------------------------------------
    def before_inputs(self, branch: "BranchView", task: "ActiveTask") -> None:
        """The task is running (its state is set); its inputs are not fetched yet."""

    def fetch_input(self, branch: "BranchView", task: "ActiveTask", upstream: str) -> Any:
        """Decision: an ``Input`` for an upstream's output that is not in this branch's memory, or
        None to let the data plane fetch it."""
        return None

    def after_inputs(self, branch: "BranchView", task: "ActiveTask") -> None:
        """``task.values`` holds every input."""

    def before_execute(self, branch: "BranchView", task: "ActiveTask") -> None:
        """The function is about to run."""

    def after_execute(self, branch: "BranchView", task: "ActiveTask") -> None:
        """``task.value`` and ``task.data`` (encoded: a ``codec.Encoded``, ``len`` its size, ``bytes()``
        of it the encoded bytes, joined only when asked) hold the output."""

    def should_upload(self, branch: "BranchView", task: "ActiveTask") -> bool | None:
        """Decision: True to send the output with the counters' call; False to send it only if that
        call finds a child that will run outside this branch (None: no opinion)."""
        return None

    def local_children(self, branch: "BranchView", task: "ActiveTask") -> int | None:
        """Decision: how many ready flexible children this branch runs itself (None: no opinion)."""
        return None

    def before_upload(self, branch: "BranchView", task: "ActiveTask") -> None:
        """``task.upload`` is decided; the output and counters are about to be written."""

    def after_complete(self, branch: "BranchView", task: "ActiveTask") -> None:
        """The task is done in Redis: ``task.finished`` says what became of its children."""

    def before_dispatch(self, branch: "BranchView", task: "ActiveTask") -> None:
        """Children for other branches are about to be sent (``task.dispatch``)."""

    def after_dispatch(self, branch: "BranchView", task: "ActiveTask") -> None:
        """Children for other branches were sent."""

    def task_failed(self, branch: "BranchView", task: "ActiveTask", error: str) -> None:
        """The task's function raised, or its output could not be stored."""

    def while_waiting(self, branch: "BranchView") -> list[str] | None:
        """Decision, asked repeatedly while a planned branch waits for inputs of its next task
        (``branch.awaiting``): tasks of other branches to run now, here, as duplicates
        (``task.duplicate``: a straggler's, TaskDup), or None."""
        return None

    def stream_output(self, branch: "BranchView", task: "ActiveTask") -> int | None:
        """Decision, when the output must travel: the hook opens a stream for it and answers its chunk
        size in bytes (the counters' call then releases the consumers, who read it while it is written:
        ``store.streams``; ``write_stream`` writes it after dispatch), or None to attach it."""

    def write_stream(self, branch: "BranchView", task: "ActiveTask") -> bool | None:
        """Decision, for an output this hook streams (``task.stream_chunk``), once its children are
        dispatched: write it, answering True when it is stored (streamed, or whole as a fallback); raise
        ``OutputFailed`` when it cannot be either."""
        return None

    def delay_upload(self, branch: "BranchView", task: "ActiveTask", children: list) -> bool | None:
        """Decision, when the counters' call found that the output must travel (some child would run
        elsewhere): wait (bounded) for children that are not ready yet so they can run here (delayed
        I/O) and answer True — the counters' call is then made again — or None to upload now.
        ``children``: ``readiness.Child`` per downstream task."""

    def hand_off(
        self, branch: "BranchView", task: "ActiveTask", token: str, entries: list[str], worker: str, memory_mb: int
    ) -> float | None:
        """Decision, for each branch of another logical worker about to be sent (already registered
        live): a process waiting for it took it — the answer is how many seconds its Celery message
        is held back (it follows as the fallback) — or None to send the message now."""
        return None


_ORDERED = ("branch_start", "before_inputs", "before_execute", "before_upload", "before_dispatch")
_REVERSED = ("after_inputs", "after_execute", "after_complete", "after_dispatch", "task_failed", "branch_end")
_DECISIONS = (
    "fetch_input",
    "should_upload",
    "local_children",
    "delay_upload",
    "stream_output",
    "write_stream",
    "while_waiting",
    "hand_off",
)
STAGES = _ORDERED + _REVERSED + _DECISIONS

# Who answers a decision stage when several hooks would, the winner first: the one place where
# optimizations' conflicts are resolved (docs/concepts/optimizations.md shows this table; a test keeps them equal).
PRECEDENCE: dict[str, tuple[str, ...]] = {
    # where an input comes from: a stream under way is the input arriving; PreLoad would fetch it again, whole
    "fetch_input": ("streaming", "preload"),
    # a big output that its children run beside stays here, whatever the plan's upload rule said
    "should_upload": ("clustering", "plan-uploads"),
    # a child a rescue moved to another configuration is never kept here (``planning.rescue``); clustering runs
    # up to max_fanout ready flexible children here; WUKONG's baseline keeps one
    "local_children": ("rescued", "clustering", "keep-one-child"),
    "delay_upload": ("clustering",),
    "stream_output": ("streaming",),
    "write_stream": ("streaming",),
    # TaskDup duplicates only tasks planned on another worker, never a flexible one clustering runs
    "while_waiting": ("taskdup",),
    "hand_off": ("prewarm",),
}


def _rank(stage: str, hook: "Hook") -> tuple[int, int]:
    listed = PRECEDENCE.get(stage, ())
    if hook.name in listed:
        return (0, listed.index(hook.name))
    return (-1, -hook.precedence) if hook.precedence > 0 else (1, -hook.precedence)


def _overrides(hook: Hook, stage: str) -> bool:
    return getattr(type(hook), stage) is not getattr(Hook, stage)


class HookChain:
    """A branch's hooks, with each stage's overriding hooks resolved once."""

    def __init__(self, hooks: Iterable[Hook], *, run_id: int | None = None):
        self.hooks = list(hooks)
        self.run_id = run_id
        self.strict = bool(getattr(settings, "SLAFLOW_STRICT_HOOKS", False))
        self._at: dict[str, list[Hook]] = {}
        for stage in STAGES:
            chosen = [h for h in self.hooks if _overrides(h, stage)]
            if stage in _REVERSED:
                chosen.reverse()
            elif stage in _DECISIONS:
                # The declared order (``PRECEDENCE``); a stable sort keeps list order among equals.
                chosen.sort(key=lambda h, stage=stage: _rank(stage, h))
            self._at[stage] = chosen

    def at(self, stage: str) -> list[Hook]:
        """The hooks that act at ``stage``, in the order they are called."""
        return self._at[stage]

    def run(self, stage: str, *args) -> None:
        """Call a lifecycle stage on every hook that overrides it (order per stage kind)."""
        for hook in self._at[stage]:
            try:
                getattr(hook, stage)(*args)
            except (SkipTask, StopBranch, InputFailed, OutputFailed):
                raise
            except Exception as exc:
                self._failed(hook, stage, args, exc)

    def decide(self, stage: str, *args) -> Any:
        """The answer of the highest-precedence hook that has one (None if nobody does)."""
        for hook in self._at[stage]:
            try:
                answer = getattr(hook, stage)(*args)
            except (SkipTask, StopBranch, InputFailed, OutputFailed):
                raise
            except Exception as exc:
                self._failed(hook, stage, args, exc)
                continue
            if answer is not None:
                return answer
        return None

    def _failed(self, hook: Hook, stage: str, args: tuple, exc: Exception) -> None:
        task = next((a for a in args if hasattr(a, "node_id")), None)
        where = f"run {self.run_id}, task {getattr(task, 'node_id', '-')}, hook {hook.name!r}, stage {stage}"
        log.error("hook failed (%s): %s: %s", where, type(exc).__name__, exc, exc_info=exc)
        if task is not None and hasattr(task, "record"):
            task.record.optimizations.setdefault("hook_errors", []).append(f"{hook.name}.{stage}: {exc}")
        if self.strict:
            raise HookError(f"hook {hook.name!r} failed at {stage} ({where}): {type(exc).__name__}: {exc}") from exc
