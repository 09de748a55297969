"""Outputs lost with their host, recomputed from their inputs (lineage, as Dask and Ray do).

A big output lives only in the shared memory of the host that made it (``store``). When that host dies
— every process killed, or cut off — a reader that needs the output gets ``OutputLost`` from the store
(``store.locations`` says when a host counts as dead: its data server unreachable *and* no worker of it
alive for ``SLAFLOW_HOST_DEAD_S``; a slow host is waited for instead). The reader then runs the
producing task again itself, on its own (live) host: its inputs are read the same way — an input lost
too, or never stored (it lived in the dead branch's memory), is recomputed first, recursively — and the
new output replaces the lost record (only if the record is still the lost one: of two readers racing,
the first replacement stands and the second uses it), so later readers map or fetch the new copy.

Nothing downstream happens twice: a recomputation stores an output and nothing else — the task is
already done in the readiness counters, so no child is released again, and a sink (whose output is the
run's result, never read back) is never recomputed. The write is fenced by the reader's lease
(``store.fencing``). Each recomputation counts in ``keys.fault_counts()`` ("<run>:recomputed") and
shows in the reader's task record (its input's ``tier`` is ``recomputed``).

Several lost inputs of one reader are recomputed side by side (threads of the reader's process).
Recomputation assumes what lineage always assumes: a task's output depends only on its inputs.
"""

from __future__ import annotations

import inspect
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from django.conf import settings

from orchestrator.core import codec, mapping
from orchestrator.core.graph import substitute
from store import fencing, keys, tiers
from store.redis_client import get_redis
from store.shm import OutputLost, StoreError

log = logging.getLogger("slaflow.lineage")

RECOMPUTED = "recomputed"  # the tier a recomputed input reports
MAX_DEPTH = 10_000
MAX_THREADS = 8

_REPLACE = """
-- KEYS: outputs   ARGV: node, the lost entry ('' when none was stored), the new entry, ttl
local now = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if now ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class Branch(Protocol):
    """What a recomputation needs of the branch that asks (``workers.runtime.BranchRun`` and its
    ``workers.travel.OutputTravel`` have it)."""

    ctx: Any  # the run's context: graph and functions
    run_id: int
    fence: fencing.Fence | None  # the delivery's fence: a recomputed output is stored fenced


def get_outputs(branch: Branch, node_ids: list[str]) -> list[tiers.Fetched | None]:
    """Like ``dataplane.get_outputs`` (None for an output not stored), but an output lost with its host
    is recomputed (tier ``recomputed``)."""
    return _Recompute(branch).outputs(node_ids, missing_ok=True)


class _Recompute:
    def __init__(self, branch: Branch):
        self.ctx, self.run_id, self.fence = branch.ctx, branch.run_id, branch.fence

    def outputs(self, node_ids: list[str], *, missing_ok: bool, depth: int = 0) -> list[tiers.Fetched | None]:
        if not node_ids:
            return []
        store = tiers.local()
        raws = get_redis().hmget(keys.outputs(self.run_id), node_ids)
        got: list[tiers.Fetched | None] = []
        lost: dict[int, tuple[str, bytes, str]] = {}
        for i, (nid, raw) in enumerate(zip(node_ids, raws)):
            try:
                fetched = store.resolve(self.run_id, raw)
            except OutputLost as exc:
                fetched, lost[i] = None, (nid, raw, str(exc))
            if fetched is None and raw is None and not missing_ok:
                lost[i] = (nid, b"", "never stored (it lived in its branch's memory)")
            got.append(fetched)
        if lost:
            if depth > MAX_DEPTH:
                raise StoreError(f"run {self.run_id}: lineage of {node_ids[0]!r} deeper than {MAX_DEPTH}")
            jobs = list(lost.items())
            if len(jobs) == 1:
                done = [self.recompute(*jobs[0][1], depth=depth)]
            else:
                with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(jobs)), thread_name_prefix="lineage") as pool:
                    done = list(pool.map(lambda job: self.recompute(*job[1], depth=depth), jobs))
            for (i, _), fetched in zip(jobs, done):
                got[i] = fetched
        return got

    def recompute(self, nid: str, lost_raw: bytes, why: str, *, depth: int) -> tiers.Fetched:
        """Run ``nid`` again from its inputs here; store its output in place of the lost record."""
        ctx = self.ctx
        if nid == ctx.sink or ctx.mapped_over(nid) is not None:
            raise StoreError(
                f"run {self.run_id}: output of {nid!r} is lost ({why}) and cannot be recomputed "
                "(a mapped node's gathered list)"
            )
        log.warning("run %s: output of %s lost (%s): recomputing it from its inputs", self.run_id, nid, why)
        node = ctx.node(nid)
        ups = list(node.upstream)
        inputs = self.outputs(ups, missing_ok=False, depth=depth + 1)
        values = {up: g.load() for up, g in zip(ups, inputs)}
        base, index = mapping.split_id(nid)
        if index is not None:  # an element task: its element of the mapped-over list
            over = ctx.mapped_over(base)
            values[over] = values[over][index]
        fn = ctx.function(nid)
        value = fn(*substitute(node.args, values), **substitute(node.kwargs_dict, values))
        if inspect.isgenerator(value):
            value = list(value)
        data = codec.dumps(value, where=f"output of {nid}")
        entry = tiers.local().entry(self.run_id, nid, data)
        replaced = fencing.call(
            "lineage_replace",
            _REPLACE,
            keys=[keys.outputs(self.run_id)],
            args=[nid, lost_raw or b"", entry, int(settings.SLAFLOW_RUN_TTL_S)],
            fence=self.fence,
        )
        fencing.count(self.run_id, "recomputed")
        if not replaced:
            log.info("run %s: %s was recomputed by another reader first; its copy stands", self.run_id, nid)
        return tiers.Fetched(data, RECOMPUTED)
