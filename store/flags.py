"""Run flags every process sees at once: which runs are over (failed or cancelled).

A branch checks whether its run is over before each stage that costs
something (grabbing inputs, executing, uploading). Asking Redis each time
would add a round trip per stage; instead one daemon thread per process
subscribes to ``keys.flags_channel`` and keeps the runs announced as over
(``dataplane.mark_over`` publishes); a task of such a run that this process
is running is interrupted at once (``store.interrupts``). The authoritative flag is still read in
Redis once per task as it begins (``dataplane.begin_task``,
``readiness.pop``), so an announcement missed while reconnecting only delays
a stop to the next task.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from store import interrupts, keys
from store.redis_client import new_client

log = logging.getLogger("slaflow.flags")

_KEEP = 10_000  # runs remembered per process (oldest forgotten first)


class Watcher:
    def __init__(self):
        self.pid = os.getpid()
        self.over: dict[int, str] = {}
        self.duplicated: dict[tuple[int, str], None] = {}  # tasks a duplicate finished first
        self.subscribed = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="slaflow-flags", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while True:
            try:
                pubsub = new_client(socket_timeout=None).pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(keys.flags_channel())
                self.subscribed.set()
                for message in pubsub.listen():
                    self._take(message.get("data"))
            except Exception as exc:  # Redis went away: listen again once it is back
                self.subscribed.clear()
                log.warning("run flags: lost the subscription (%r); retrying", exc)
                time.sleep(1.0)

    def _take(self, data: Any) -> None:
        if not isinstance(data, bytes):
            return
        kind, _, rest = data.decode().partition(" ")
        if kind == "over":
            run, _, reason = rest.partition(" ")
            self.over[int(run)] = reason
            while len(self.over) > _KEEP:
                del self.over[next(iter(self.over))]
            # Stop the task of that run this process is running, now (not at its next stage).
            interrupts.interrupt_run(int(run), f"run {run} was {reason}" if reason else f"run {run} is over")
        elif kind == "dup":
            run, _, node = rest.partition(" ")
            self.duplicated[(int(run), node)] = None
            while len(self.duplicated) > _KEEP:
                del self.duplicated[next(iter(self.duplicated))]
            interrupts.interrupt_task(
                int(run), node, interrupts.Duplicated(f"task {node!r} was finished by a duplicate")
            )


_watcher: Watcher | None = None
_lock = threading.Lock()


def watcher() -> Watcher:
    global _watcher
    if _watcher is None or _watcher.pid != os.getpid():
        with _lock:
            if _watcher is None or _watcher.pid != os.getpid():
                _watcher = Watcher()
    return _watcher


def announced_duplicated(run_id: int, node_id: str) -> bool:
    """Whether a duplicate finished this task first (no round trip)."""
    return (run_id, node_id) in watcher().duplicated


def announced_over(run_id: int) -> bool:
    """Whether this process has heard that the run is over (no round trip)."""
    return run_id in watcher().over
