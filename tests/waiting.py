"""Waiting on observed conditions (never a fixed sleep standing for "nothing happened")."""

from __future__ import annotations

import time
from typing import Callable


def until(condition: Callable[[], object], *, timeout_s: float = 30.0, every_s: float = 0.05, what: str = ""):
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = condition()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what or condition}"
        time.sleep(every_s)


def message_settled(task_id: str) -> bool:
    """No worker holds a Celery message with this id any more: not reserved, scheduled (a retry's
    countdown) or running."""
    from orchestrator.celery import app

    inspect = app.control.inspect(timeout=1.0)
    for listing in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        for tasks in (listing or {}).values():
            for item in tasks:
                request = item.get("request", item)
                if request.get("id") == task_id:
                    return False
    return True


class LogTail:
    """What a log file gained since this was made: the logs of the test cluster are appended to across
    sessions, so a test looks only at the lines its own actions wrote."""

    def __init__(self, path):
        self.path = path
        self.offset = path.stat().st_size

    def text(self) -> str:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            return fh.read().decode(errors="replace")
