"""PreLoad's runtime: fetch a task's remote inputs as soon as each exists, while the worker is busy.

The rule (``preload.rule``) lists, per planned task, the inputs produced on
other workers. When the branch of its worker starts, a background thread
subscribes to the run's completion events (``keys.events``), fetches those inputs the moment their producers finish (a
burst of completions in one round trip; the ones already finished at once),
decodes them, and keeps each until the last task of the branch that takes it;
when the task runs, its ``fetch_input`` stage takes the kept value (waiting
for a fetch under way rather than starting another; one the thread has not
reached yet the task fetches itself, and the thread then leaves it: an input
is never downloaded twice).
"""

from __future__ import annotations

import logging
import threading
import time

from orchestrator.optimizations.preload.rule import NAME
from store import dataplane, keys
from store.redis_client import get_redis, new_client
from workers.hooks import Hook, Input

log = logging.getLogger("slaflow.preload")


class Fetcher(threading.Thread):
    """Fetches ``wanted`` outputs of ``run_id`` as they appear; ``wanted`` maps each to how many tasks
    of this branch take it (an output can feed several: each gets it, and it is freed after the last)."""

    def __init__(self, run_id: int, wanted: dict[str, int]):
        super().__init__(name=f"preload-{run_id}", daemon=True)
        self.run_id, self.wanted = run_id, dict(wanted)
        self.got: dict[str, tuple] = {}  # node → (value, bytes, download s, at, output-store tier)
        self.fetched: set[str] = set()
        self.inflight: set[str] = set()  # being downloaded now: a task that wants one waits for it
        self.failed: set[str] = set()  # not from here after all: not stored, or the task fetched it itself
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.subscribed = threading.Event()

    def run(self) -> None:
        pubsub = None
        try:
            pubsub = new_client(socket_timeout=None).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(keys.events(self.run_id))
            self.subscribed.set()
            # Subscribed first, then asked what is done already: nothing can finish unseen in between.
            wanted = sorted(self.wanted)
            done = get_redis().smismember(keys.done(self.run_id), wanted)
            self._fetch([node for node, is_done in zip(wanted, done) if is_done])
            while not self.stopping.is_set() and len(self.fetched) + len(self.failed) < len(self.wanted):
                message = pubsub.get_message(timeout=0.2)
                ready = []
                while message is not None:  # a burst of completions: fetched in one round trip
                    if isinstance(message.get("data"), bytes):
                        node = message["data"].decode()
                        if node in self.wanted and node not in self.fetched and node not in ready:
                            ready.append(node)
                    message = pubsub.get_message(timeout=0)
                self._fetch(ready)
        except Exception:  # preloading is a help, never a risk: the task then fetches as usual
            log.exception("run %s: preloading stopped", self.run_id)
        finally:
            self.subscribed.set()
            with self.cond:
                self.failed |= set(self.wanted) - self.fetched
                self.cond.notify_all()
            if pubsub is not None:
                pubsub.close()

    def _fetch(self, nodes: list[str]) -> None:
        with self.cond:
            nodes = [n for n in nodes if n not in self.fetched and n not in self.failed and n not in self.inflight]
            self.inflight.update(nodes)
        if not nodes:
            return
        t0 = time.perf_counter()
        got = dataplane.get_outputs(self.run_id, nodes)
        fetched = time.perf_counter() - t0
        total = sum(g.size for g in got if g is not None) or 1
        for node, g in zip(nodes, got):
            if g is None:  # announced but not stored (it stays in its worker's memory): the task fetches it
                with self.cond:
                    self.inflight.discard(node)
                    self.failed.add(node)
                    self.cond.notify_all()
                continue
            td = time.perf_counter()
            value = g.load()
            took = fetched * g.size / total + (time.perf_counter() - td)  # the shared trip split by size
            with self.cond:
                self.got[node] = (value, g.size, took, time.time(), g.tier)
                self.inflight.discard(node)
                self.fetched.add(node)
                self.cond.notify_all()

    def take(self, node: str, timeout_s: float = 30.0):
        """The kept input (waiting for its download if one is under way), or None: then the task fetches
        it itself, and this thread will not (an input whose completion it has not acted on yet is not
        waited for). Each taker after the first gets it with no download time: it was downloaded once."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while node in self.inflight and time.monotonic() < deadline:
                self.cond.wait(min(0.5, deadline - time.monotonic()))
            got = self.got.get(node)
            if got is None:
                if node not in self.fetched:
                    self.failed.add(node)  # the task's own fetch: never a second download from here
                return None
            self.wanted[node] -= 1
            if self.wanted[node] <= 0:
                del self.got[node]
            else:
                self.got[node] = (got[0], got[1], 0.0, got[3], got[4])
            return got

    def stop(self) -> None:
        self.stopping.set()


class Preload(Hook):
    name = "preload"

    def __init__(self, ctx):
        self.ctx = ctx
        self.fetcher: Fetcher | None = None

    def branch_start(self, branch) -> None:
        if branch.worker is None:
            return
        wanted: dict[str, int] = {}
        for entry in self.ctx.plan.values():
            spec = (entry.get("a") or {}).get(NAME)
            if spec and entry.get("w") == branch.worker:
                for u in spec.get("inputs", ()):
                    if self.ctx.worker_of(u) != branch.worker:
                        wanted[u] = wanted.get(u, 0) + 1
        if wanted:
            self.fetcher = Fetcher(self.ctx.run_id, wanted)
            self.fetcher.start()
            self.fetcher.subscribed.wait(2.0)

    def fetch_input(self, branch, task, upstream: str):
        if self.fetcher is None or upstream not in self.fetcher.wanted:
            return None
        t0 = time.perf_counter()
        got = self.fetcher.take(upstream)
        if got is None:
            return None
        value, size, took, at, tier = got
        waited = time.perf_counter() - t0
        task.record.optimizations.setdefault(NAME, []).append(upstream)
        task.record.optimizations.setdefault("preload_waited_s", 0.0)
        task.record.optimizations["preload_waited_s"] += waited
        return Input(value=value, size=size, download_s=took, how=NAME, tier=tier)

    def branch_end(self, branch) -> None:
        if self.fetcher is not None:
            self.fetcher.stop()


def hooks(ctx) -> list[Hook]:
    return [Preload(ctx)]
