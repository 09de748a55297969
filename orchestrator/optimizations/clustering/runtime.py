"""Task clustering's runtime hook: a big output stays with the worker that made it.

The rule (``clustering.rule``) marks the flexible tasks with children. In a
flexible branch (an executor), for an output of at least ``min_bytes``
(``SLAFLOW_CLUSTER_MIN_OUTPUT_BYTES``):

* **fan-out clustering** — the branch runs up to ``max_fanout`` ready
  children itself (the ``local_children`` decision) instead of one, and the
  output is not attached to the counters' call (``should_upload``): it goes
  to Redis only if some child still runs elsewhere;
* **fan-in clustering** — a child whose inputs this task completes runs here
  (the counters' call gives it to its last upstream), so the big output does
  not travel to it;
* **delayed I/O** — when the upload would be needed only because some
  children are not ready yet (their other inputs are still running), the
  branch first waits up to ``delay_s`` (``SLAFLOW_DELAYED_IO_S``), re-checking,
  and runs those that became ready here (``delay_upload``). One producer waits
  per child (a claim in Redis): two producers of one fan-in never wait for
  each other.

Recorded on the producer: ``clustered_children`` (the children it ran),
``not_uploaded_bytes`` (its output never written to Redis) and
``delayed_io`` ({waited_s, picked}); on each clustered child: ``clustered``
(its producer). The run's summary sums them (``services.optimization_stats``).
"""

from __future__ import annotations

from orchestrator.optimizations.clustering.rule import NAME
from store import readiness
from workers.hooks import Hook


class Clustering(Hook):
    name = NAME

    def __init__(self, ctx):
        self.ctx = ctx
        self.producer_of: dict[str, str] = {}  # a child this branch runs because of clustering → its producer
        self.delayed: dict[str, tuple[list[str], float]] = {}  # a producer → (children it waited for, seconds)

    def _spec(self, branch, task) -> dict | None:
        """The parameters when clustering applies to this finished task: a flexible branch, a big output."""
        if not branch.is_executor or task.data is None or task.is_sink:
            return None
        spec = self.ctx.annotations_of(task.node_id).get(NAME)
        if not spec or len(task.data) < int(spec["min_bytes"]):
            return None
        return spec

    def should_upload(self, branch, task):
        return False if self._spec(branch, task) else None

    def local_children(self, branch, task):
        spec = self._spec(branch, task)
        if spec is None:
            return None
        flexible = [c for c in self.ctx.children(task.node_id) if self.ctx.worker_of(c) is None]
        return max(1, min(len(flexible), int(spec["max_fanout"])))

    def delay_upload(self, branch, task, children: list):
        """Delayed I/O: wait up to ``delay_s`` for the children that are not ready yet, and answer True
        (the counters' call is made again: those ready by then run here), or None to upload now — only
        when every child could run here once the not-ready ones are, and no other producer of those
        already waits for them."""
        spec = self._spec(branch, task)
        if spec is None or float(spec["delay_s"]) <= 0 or len(children) > task.local_slots:
            return None
        if any(c.mode != readiness.FLEX for c in children):
            return None
        pending = readiness.pending(branch.run_id, task.node_id, children)
        if not pending or not readiness.claim_delay(branch.run_id, pending, branch.token):
            return None
        waited = readiness.wait_ready(branch.run_id, task.node_id, children, float(spec["delay_s"]))
        self.delayed[task.node_id] = (pending, waited)
        return True

    def before_inputs(self, branch, task) -> None:
        producer = self.producer_of.pop(task.node_id, None)
        if producer is not None:
            task.record.optimizations["clustered"] = producer

    def after_complete(self, branch, task) -> None:
        delayed = self.delayed.pop(task.node_id, None)
        if task.finished is None or self._spec(branch, task) is None:
            return
        rec = task.record.optimizations
        kids = self.ctx.children(task.node_id)
        local = [c for c, out in zip(kids, task.finished.outcomes) if out == readiness.LOCAL]
        if local:
            rec["clustered_children"] = local
            for child in local:
                self.producer_of[child] = task.node_id
        if not task.record.uploaded:
            rec["not_uploaded_bytes"] = len(task.data)
        if delayed is not None:
            pending, waited = delayed
            rec["delayed_io"] = {"waited_s": round(waited, 4), "picked": [c for c in pending if c in local]}


def hooks(ctx) -> list[Hook]:
    return [Clustering(ctx)]
