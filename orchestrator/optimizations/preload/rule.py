"""PreLoad's rule: which planned tasks have enough remote input to be worth fetching early.

Rule: a planned task with at least ``min_inputs`` (2) inputs produced on other
workers whose downloads are predicted to take at least ``min_download_s``
(20 ms) together: below that the thread's own costs (a subscription, a round
trip per burst of completions, sharing the interpreter with the task) exceed
what overlapping can save (``text_analysis``'s 32 small count tables: 7 ms of
downloads, +11 % makespan when preloaded). The annotation lists those inputs;
the timing model overlaps their downloads with the worker's earlier tasks
(``planning.effects``), and ``preload.runtime`` fetches them.

Pure: a plan, a graph and a predictor in, ``{node: {"inputs": [...]}}`` out.
"""

from __future__ import annotations

from orchestrator.planning.predictor import SLA, PredictionError

NAME = "preload"
LABEL = "PreLoad"
DEFAULTS = {"min_inputs": 2, "min_download_s": 0.02}
TYPICAL = SLA(50)


def _remote_inputs(plan, graph, nid: str) -> list[str]:
    me = plan.tasks[nid].worker
    return [u for u in graph[nid].upstream if me is None or plan.tasks[u].worker != me]


def _download_s(plan, predictor, nid: str, inputs: list[str]) -> float | None:
    """Predicted time to download ``inputs`` to ``nid``'s configuration (None: no prediction)."""
    if predictor is None:
        return None
    here = plan.tasks[nid].memory_mb
    try:
        return sum(predictor.transfer_time("download", plan.tasks[u].output_bytes or 0, here, TYPICAL) for u in inputs)
    except PredictionError:
        return None


def annotate(plan, graph, predictor, params: dict) -> dict[str, dict]:
    need = int(params.get("min_inputs", DEFAULTS["min_inputs"]))
    min_download = float(params.get("min_download_s", DEFAULTS["min_download_s"]))
    out = {}
    for nid, tp in plan.tasks.items():
        if tp.worker is None:
            continue  # a flexible branch does not know its tasks when it starts
        remote = _remote_inputs(plan, graph, nid)
        if len(remote) < need:
            continue
        download = _download_s(plan, predictor, nid, remote)
        if download is not None and download < min_download:
            continue  # too little to overlap for what the thread costs
        out[nid] = {"inputs": remote}
    return out


def forced(nid: str, plan, graph, predictor, params: dict) -> dict | None:
    remote = _remote_inputs(plan, graph, nid)
    return {"inputs": remote} if remote and plan.tasks[nid].worker is not None else None
