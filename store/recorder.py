"""Writing a running branch's task records from a background thread.

A long branch (a chain of 1,000 tasks, an executor draining a wide fan-out)
writes its finished tasks' records in batches as it goes, so that little is
left to write once the sink is done. Writing inline put every batch on the
branch's critical path (10 × 25 ms on a chain of 1,000); here one daemon
thread per process takes the batches in order, with its own database
connection, while the branch runs on. ``drain`` waits for what was handed
over and re-raises a write that failed, so a branch never ends with records
unwritten or an error unseen.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Callable

from orchestrator.dbretry import retrying

log = logging.getLogger("slaflow.recorder")


class Recorder:
    def __init__(self):
        self.pid = os.getpid()
        self._jobs: queue.Queue = queue.Queue()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, name="slaflow-recorder", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        from django.db import connection

        while True:
            job = self._jobs.get()
            try:
                retrying(job, "writing task records")
            except BaseException as exc:  # handed to the branch at its next drain
                log.exception("writing task records failed")
                self._errors.append(exc)
                connection.close()  # a broken connection must not poison the next batch
            finally:
                self._jobs.task_done()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait for every batch handed over; raise the first write that failed."""
        self._jobs.join()
        if self._errors:
            error, self._errors[:] = self._errors[0], []
            raise error


_recorder: Recorder | None = None
_lock = threading.Lock()


def recorder() -> Recorder:
    global _recorder
    if _recorder is None or _recorder.pid != os.getpid():
        with _lock:
            if _recorder is None or _recorder.pid != os.getpid():
                _recorder = Recorder()
    return _recorder
