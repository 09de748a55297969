"""Task clustering's rule: which flexible tasks may keep a big output with their children.

Rule (``wukong-opt``, or forced on a task): every flexible task with
downstream tasks is a candidate; whether it clusters is decided at run time
on the output's real size, which no plan knows before a first run
(``clustering.runtime``).

Re-judged on the output store's tiers (``store.tiers``): an output of at
least ``min_bytes`` goes into the host's shared memory, which a reader on the
same host maps for ~0.2 ms/MB after a ~0.5 ms/MB write — the transfer
clustering and delayed I/O avoid costs less than what they cost (children run
one after another on one executor; a producer waits up to ``delay_s``). So the
rule chooses no task while every worker is on one host and the tier takes
outputs of clustering's size (``SLAFLOW_SHM_MIN_BYTES`` and the hosts the
live workers publish, given to the rule with its parameters); on
several hosts, or with the tier off, it chooses as before. Forcing it on a
task still works.

Pure: a plan and a graph in, ``{node: parameters}`` out.
"""

from __future__ import annotations

from orchestrator.planning.predictor import store_tiers, through_shared_memory

NAME = "clustering"
LABEL = "Task clustering"
DEFAULTS = {"min_bytes": 1 << 20, "max_fanout": 8, "delay_s": 0.5}
FLEXIBLE = True  # acts on flexible (WUKONG) tasks; the other rules need a planned worker


def _params(params: dict) -> dict:
    return {
        "min_bytes": int(params.get("min_bytes", DEFAULTS["min_bytes"])),
        "max_fanout": int(params.get("max_fanout", DEFAULTS["max_fanout"])),
        "delay_s": float(params.get("delay_s", DEFAULTS["delay_s"])),
    }


def annotate(plan, graph, predictor, params: dict) -> dict[str, dict]:
    chosen = _params(params)
    if through_shared_memory(*store_tiers(params, predictor), chosen["min_bytes"], one_host=True):
        return {}  # a big output costs its readers on this host almost nothing: nothing to save
    has_children = {u for node in graph.values() for u in node.upstream}
    return {
        nid: chosen for nid, tp in plan.tasks.items() if tp.worker is None and nid in has_children
    }  # shared: read only


def forced(nid: str, plan, graph, predictor, params: dict) -> dict | None:
    if plan.tasks[nid].worker is not None or not any(nid in node.upstream for node in graph.values()):
        return None
    return _params(params)
