"""Run and task states, and the only transitions allowed between them.

    run:   pending → planning → running → succeeded
                 ↘        ↘          ↘ failed | cancelled
    task:  pending → ready → running → succeeded | failed | cancelled
                 ↘ (run ended first) skipped | cancelled

``skipped`` is for a task that never began (its run failed first); a task that had begun when its run
ended was stopped: ``cancelled``. The tables below are the one authority on names and moves: Python
changes a state through ``move`` (or filters rows by ``sources_of`` a target), and the Lua scripts of
``store`` take the names from them (``store.lua``, the prelude every script starts with), never spell them.
One service function per run transition lives in ``orchestrator.services``;
anything outside these tables raises ``TransitionError``.
"""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    PENDING = "pending"
    PLANNING = "planning"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def finished(cls) -> set[str]:
        return {cls.SUCCEEDED, cls.FAILED, cls.CANCELLED}


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


RUN_TRANSITIONS: dict[str, set[str]] = {
    RunStatus.PENDING: {RunStatus.PLANNING, RunStatus.FAILED, RunStatus.CANCELLED},
    RunStatus.PLANNING: {RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED},
    RunStatus.RUNNING: {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED},
    RunStatus.SUCCEEDED: set(),
    RunStatus.FAILED: set(),
    RunStatus.CANCELLED: set(),
}

TASK_TRANSITIONS: dict[str, set[str]] = {
    TaskStatus.PENDING: {
        TaskStatus.READY,
        TaskStatus.RUNNING,
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.SKIPPED,
        TaskStatus.CANCELLED,
    },
    TaskStatus.READY: {TaskStatus.RUNNING, TaskStatus.SKIPPED, TaskStatus.CANCELLED},
    TaskStatus.RUNNING: {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED},
    TaskStatus.SUCCEEDED: set(),
    TaskStatus.FAILED: set(),
    TaskStatus.CANCELLED: set(),
    TaskStatus.SKIPPED: set(),
}


class TransitionError(RuntimeError):
    pass


def sources_of(target: str, table: dict[str, set[str]] = RUN_TRANSITIONS) -> set[str]:
    """The states from which ``target`` may be entered."""
    return {src for src, targets in table.items() if target in targets}


def check(current: str, target: str, table: dict[str, set[str]] = RUN_TRANSITIONS) -> None:
    if not allowed(current, target, table):
        raise TransitionError(f"cannot go from {current!r} to {target!r}")


def allowed(current: str, target: str, table: dict[str, set[str]] = TASK_TRANSITIONS) -> bool:
    """Whether a task (or, with ``RUN_TRANSITIONS``, a run) may go from ``current`` to ``target``."""
    return target in table.get(current, set())


def move(current: str, target: str, table: dict[str, set[str]] = TASK_TRANSITIONS) -> str:
    """``target``, the new state of a task (or a run) in ``current``; ``TransitionError`` when the table
    forbids the move. Every state change is written ``x.status = move(x.status, TaskStatus.…)``."""
    check(current, target, table)
    return str(target)


class StopBranch(Exception):
    """Raised by a hook or a fenced store write: the run is over for this branch (or another delivery owns
    it); the branch starts nothing more."""
