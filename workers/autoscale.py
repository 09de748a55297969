"""The pool autoscaler, publishing each worker's pool for the planner.

Celery's autoscaler grows a pool as branches arrive and shrinks it only after
its queue received nothing for the keep-alive window — the whole pool at
once, not process by process (it looks every keep-alive window, and at each
message). So a process that sat out the last few runs is
still there, and a branch landing on it starts cold (reconnects and reloads)
in a few milliseconds, not as a new process that must be forked first
(hundreds of milliseconds). The planner cannot see a pool; this autoscaler
tells it: on every scaling decision and once a second it writes the pool's
size to ``keys.pools()`` (``store.pools``), with the host's usable cores and
each pool process's CPU quota (the planner's capacity model).
"""

from __future__ import annotations

import logging
import os
import socket
import time

from celery.worker.autoscale import Autoscaler

from orchestrator.core.resources import ResourceConfig
from store import pools

log = logging.getLogger(__name__)


class PoolAutoscaler(Autoscaler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._published = 0.0
        self._cores = pools.host_cores()
        self._name = getattr(kwargs.get("worker"), "hostname", None) or f"{socket.gethostname()}:{os.getpid()}"

    def _maybe_scale(self, req=None):
        scaled = super()._maybe_scale(req)
        now = time.time()
        if scaled or req is None or now - self._published > 1.0:
            self.publish(now)
        return scaled

    def publish(self, now: float) -> None:
        memory_mb = os.environ.get("SLAFLOW_WORKER_MEMORY_MB")
        if not memory_mb:
            return
        try:
            pools.publish(
                self._name,
                memory_mb=int(memory_mb),
                processes=int(self.processes),
                keepalive_s=float(self.keepalive),
                now=now,
                cores=self._cores,
                cpus=ResourceConfig(int(memory_mb)).cpus,
            )
            self._published = now
        except Exception as exc:  # the pool works without the planner's view of it
            log.debug("cannot publish the pool: %r", exc)
