"""Output streaming: a big output that must travel is read by its consumers while it is written.

Rule (the ``-opt`` planners, or forced on a task): a task with a consumer
that runs outside its branch (on another logical worker, in a new branch of
its own, or flexible), unless history predicts its output well under the
threshold. Whether it streams is decided at run time on the output's real
size: at least ``min_bytes`` (``SLAFLOW_STREAM_MIN_BYTES``).

Runtime (``store.streams`` holds the protocol): instead of attaching the
output to the counters' call, the producer opens a stream, records the task
done — its consumers are dispatched at once — and then writes the output in
chunks of ``chunk_bytes``; a consumer's ``fetch_input`` reads the chunks as
they arrive into one buffer and checks the CRC at the end, so its input is
ready about when the upload ends instead of after upload, dispatch and
download. A streamed input comes before a preloaded one (docs/concepts/optimizations.md precedence:
PreLoad would fetch it again, whole, once written).

Re-judged on the output store's tiers (``store.tiers``): an output of at
least the shared-memory threshold never goes through Redis — readers on its
host map it (~0.2 ms/MB after a ~0.5 ms/MB write), readers elsewhere fetch
it from its host directly — and a chunked stream through the central Redis
is slower than either. So the rule chooses no task when the tier takes
outputs of streaming's size (``SLAFLOW_SHM_MIN_BYTES``, given to the rule with
its parameters); with the tier off
it chooses as before, and forcing it on a task still streams.

Recorded: ``streamed`` {bytes, chunks} on the producer; input entries with
``via: "stream"`` on consumers.
"""
from __future__ import annotations

import time

from orchestrator.core import codec
from orchestrator.planning.predictor import store_tiers, through_shared_memory
from store import flags, streams
from workers.hooks import Hook, Input, InputFailed

NAME = "streaming"
LABEL = "Output streaming"
DEFAULTS = {"min_bytes": 16 << 20, "chunk_bytes": 1 << 20}
FLEXIBLE = True


def _params(params: dict) -> dict:
    return {"min_bytes": int(params.get("min_bytes", DEFAULTS["min_bytes"])),
            "chunk_bytes": int(params.get("chunk_bytes", DEFAULTS["chunk_bytes"]))}


def _travels(plan, graph, nid: str, consumers: list[str]) -> bool:
    me = plan.tasks[nid].worker
    return any(me is None or plan.tasks[c].worker != me or plan.new_branch(c) for c in consumers)


def _small(plan, nid: str, min_bytes: int) -> bool:
    """Predicted (from history) to stay well under the threshold: then its consumers need not even look for
    a stream (one round trip per input saved; ``tree_reduction`` under wukong-opt was 14 % slower with it)."""
    predicted = plan.tasks[nid].output_bytes
    return predicted is not None and predicted < min_bytes // 4


def annotate(plan, graph, predictor, params: dict) -> dict[str, dict]:
    chosen = _params(params)
    if through_shared_memory(*store_tiers(params, predictor), chosen["min_bytes"]):
        return {}  # the store moves it faster, and never through Redis
    consumers: dict[str, list[str]] = {}
    for cid, node in graph.items():
        for u in node.upstream:
            consumers.setdefault(u, []).append(cid)
    return {nid: chosen for nid, kids in consumers.items()  # ``chosen`` shared: read only
            if _travels(plan, graph, nid, kids) and not _small(plan, nid, chosen["min_bytes"])}


def forced(nid: str, plan, graph, predictor, params: dict) -> dict | None:
    kids = [c for c, node in graph.items() if nid in node.upstream]
    return _params(params) if kids and _travels(plan, graph, nid, kids) else None


class Streaming(Hook):
    name = NAME

    def __init__(self, ctx):
        self.ctx = ctx

    def stream_output(self, branch, task):
        spec = self.ctx.annotations_of(task.node_id).get(NAME)
        if not spec or task.data is None or len(task.data) < int(spec["min_bytes"]):
            return None
        return int(spec["chunk_bytes"])

    def fetch_input(self, branch, task, upstream: str):
        if not self.ctx.annotations_of(upstream).get(NAME) or \
                streams.streamed(branch.run_id, [upstream]).get(upstream) != streams.BYTES:
            return None
        t0 = time.perf_counter()
        try:
            buf = streams.read(branch.run_id, upstream, stopped=lambda: flags.announced_over(branch.run_id))
        except streams.StreamError as exc:
            if streams.STORED_WHOLE not in str(exc):
                raise InputFailed(str(exc)) from None
            return None  # the producer fell back to storing it whole: the data plane fetches that copy
        size = len(buf)
        return Input(value=codec.loads_buffer(buf), size=size, download_s=time.perf_counter() - t0, how="stream")


def hooks(ctx) -> list[Hook]:
    return [Streaming(ctx)]
