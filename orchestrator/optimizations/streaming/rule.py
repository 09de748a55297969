"""Output streaming's rule: which tasks have a consumer outside their branch.

Rule (the ``-opt`` planners, or forced on a task): a task with a consumer
that runs outside its branch (on another logical worker, in a new branch of
its own, or flexible), unless history predicts its output well under the
threshold. Whether it streams is decided at run time on the output's real
size: at least ``min_bytes`` (``SLAFLOW_STREAM_MIN_BYTES``; ``streaming.runtime``).

Re-judged on the output store's tiers (``store.tiers``): an output of at
least the shared-memory threshold never goes through Redis — readers on its
host map it (~0.2 ms/MB after a ~0.5 ms/MB write), readers elsewhere fetch
it from its host directly — and a chunked stream through the central Redis
is slower than either. So the rule chooses no task when the tier takes
outputs of streaming's size (``SLAFLOW_SHM_MIN_BYTES``, given to the rule with
its parameters); with the tier off it chooses as before, and forcing it on a
task still streams.

Pure: a plan and a graph in, ``{node: {min_bytes, chunk_bytes}}`` out.
"""

from __future__ import annotations

from orchestrator.planning.predictor import store_tiers, through_shared_memory

NAME = "streaming"
LABEL = "Output streaming"
DEFAULTS = {"min_bytes": 16 << 20, "chunk_bytes": 1 << 20}
FLEXIBLE = True


def _params(params: dict) -> dict:
    return {
        "min_bytes": int(params.get("min_bytes", DEFAULTS["min_bytes"])),
        "chunk_bytes": int(params.get("chunk_bytes", DEFAULTS["chunk_bytes"])),
    }


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
    return {
        nid: chosen
        for nid, kids in consumers.items()  # ``chosen`` shared: read only
        if _travels(plan, graph, nid, kids) and not _small(plan, nid, chosen["min_bytes"])
    }


def forced(nid: str, plan, graph, predictor, params: dict) -> dict | None:
    kids = [c for c, node in graph.items() if nid in node.upstream]
    return _params(params) if kids and _travels(plan, graph, nid, kids) else None
