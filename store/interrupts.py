"""Stopping a task's function for real: time limits and cancellation.

A task's function runs in the pool process's main thread inside a ``Guard``.

* Its time limit arms a real-time timer: at the limit the main thread gets
  ``SIGALRM`` and the handler raises ``TimeLimitExceeded`` inside the function.
* When its run is cancelled or fails elsewhere, the process's flag listener
  (``store.flags``) calls ``interrupt_run``, which sends ``SIGALRM`` to the
  main thread: the handler raises ``Cancelled``.

Python code and blocking calls (sleep, sockets, subprocess waits) stop at
once; C code that holds the GIL stops when it returns. If the function has
not stopped ``GRACE_S`` later (it swallowed the exception, or a C call never
returns), a watchdog (one thread per process, armed per task) records why in Redis (``keys.killed``) and kills its own
process: the pool replaces it, the broker redelivers the branch, and the
redelivered branch reads the record and settles the task instead of running
it again. Both exceptions derive from ``BaseException`` so that a task's
``except Exception`` does not swallow them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any, Callable, Literal, cast

log = logging.getLogger("slaflow.interrupts")

GRACE_S = 3.0


class Interrupted(BaseException):
    """The task was stopped from outside; ``reason`` says why."""

    kind = "interrupted"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TimeLimitExceeded(Interrupted):
    kind = "timeout"


class Cancelled(Interrupted):
    kind = "cancelled"


class Duplicated(Interrupted):
    """A duplicate of the task (TaskDup) finished first: this copy stops."""

    kind = "duplicated"


class Guard:
    """Run one task's function so that its time limit and its run's cancellation can stop it."""

    def __init__(
        self, run_id: int, node_id: str, limit_s: float | None, on_kill: Callable[[str, str], None] | None = None
    ):
        self.run_id, self.node_id, self.limit_s = run_id, node_id, limit_s
        self.on_kill = on_kill  # (kind, reason) → None: records why before the process is killed
        self.pending: Interrupted | None = None
        self.active = False
        self._armed = False

    def __enter__(self) -> "Guard":
        global _current
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only: no guard here (e.g. a test calling in a thread)
        _install()
        self.active = True
        _current = self
        if self.limit_s:
            signal.setitimer(signal.ITIMER_REAL, float(self.limit_s))
            self._arm_watchdog(float(self.limit_s) + GRACE_S, TimeLimitExceeded(self._limit_text()))
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        global _current
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.active = False
            _current = None
            if self._armed:
                _WATCHDOG.disarm(self)
                self._armed = False
        return False

    def _limit_text(self) -> str:
        return f"task {self.node_id!r} exceeded its time limit of {self.limit_s:g} s"

    def alarm(self) -> None:
        if not self.active:
            return  # a late signal after the function returned: nothing to stop
        error = self.pending or TimeLimitExceeded(self._limit_text())
        self.pending = None
        raise error

    def interrupt(self, error: Interrupted) -> None:
        """From another thread: stop the function with ``error`` (and kill the process if it will not stop)."""
        if not self.active:
            return
        self.pending = error
        self._arm_watchdog(GRACE_S, error)
        signal.pthread_kill(cast(int, threading.main_thread().ident), signal.SIGALRM)  # started: has an ident

    def _arm_watchdog(self, after_s: float, error: Interrupted) -> None:
        _WATCHDOG.arm(self, after_s, error)
        self._armed = True

    def _kill(self, error: Interrupted) -> None:
        if not self.active:
            return
        log.error(
            "run %s: task %s did not stop (%s); killing pool process %s",
            self.run_id,
            self.node_id,
            error.reason,
            os.getpid(),
        )
        try:
            if self.on_kill is not None:
                self.on_kill(error.kind, error.reason)
        finally:
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)


class _Watchdog:
    """The process's one watchdog thread: it calls the armed guard's ``_kill`` once its deadline passes.
    Arming it is a lock and, only for a deadline earlier than the one it sleeps until, a wake-up (a
    ``threading.Timer`` per task started a thread per task: 0.2-0.4 ms each on a loaded 2-core host).
    A process forked from one that had it starts its own."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a child has no thread, and a lock nobody holds

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._armed: tuple[float, Guard, Interrupted] | None = None
        self._sleeping_until = float("inf")
        self._pid: int | None = None

    def arm(self, guard: "Guard", after_s: float, error: Interrupted) -> None:
        deadline = time.monotonic() + after_s
        with self._cond:
            if self._pid != os.getpid():  # none started in this process yet
                self._pid = os.getpid()
                self._sleeping_until = float("inf")
                threading.Thread(target=self._watch, name="slaflow-watchdog", daemon=True).start()
            self._armed = (deadline, guard, error)
            if deadline < self._sleeping_until:
                self._cond.notify()

    def disarm(self, guard: "Guard") -> None:
        with self._cond:
            if self._armed is not None and self._armed[1] is guard:
                self._armed = None  # the thread finds nothing at its deadline and sleeps on

    def _watch(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                armed = self._armed
                if armed is None or armed[0] > now:
                    self._sleeping_until = armed[0] if armed is not None else float("inf")
                    self._cond.wait(None if armed is None else armed[0] - now)
                    continue
                self._armed, self._sleeping_until = None, float("inf")
            armed[1]._kill(armed[2])  # it does nothing once its guard is no longer active


_WATCHDOG = _Watchdog()
_current: Guard | None = None
_installed_in: int | None = None


def _on_alarm(signum: int, frame: Any) -> None:
    guard = _current
    if guard is not None:
        guard.alarm()


def _install() -> None:
    """Our SIGALRM handler, for good, in this process: restoring the default between tasks would let
    a late interrupt kill the process (SIGALRM's default action)."""
    global _installed_in
    if _installed_in != os.getpid():
        signal.signal(signal.SIGALRM, _on_alarm)
        _installed_in = os.getpid()


def interrupt_task(run_id: int, node_id: str, error: Interrupted) -> bool:
    """Stop ``node_id`` of ``run_id`` if this process is running it."""
    guard = _current
    if guard is not None and guard.run_id == run_id and guard.node_id == node_id and guard.active:
        guard.interrupt(error)
        return True
    return False


def interrupt_run(run_id: int, reason: str) -> bool:
    """Stop the task of ``run_id`` this process is running, if any (called by the flag listener)."""
    guard = _current
    if guard is not None and guard.run_id == run_id and guard.active:
        guard.interrupt(Cancelled(reason))
        return True
    return False
