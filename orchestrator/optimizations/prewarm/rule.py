"""PreWarm's rule: for a branch predicted to start cold, who pings its configuration, and when.

For a task that begins a branch the plan predicts to start cold (on a new or
idle process), pick a sender — a task of another logical worker running at
the chosen moment — and the moment: within the feasible window
[dispatch − keep-alive + latency, dispatch − latency − the target's start-up],
at ``preference`` (0.75) of the way through it (the prior system's constants:
500 ms request latency, 0.75, a 7 s warm window). The timing model treats a
pinged branch as warm with the measured hit rate (``planning.effects``);
``prewarm.runtime`` sends the ping and hands the branch over.

Pure: a plan in, ``{node: {sender, send_at_s, memory_mb, worker}}`` out.
"""

from __future__ import annotations

from orchestrator.core import startup

NAME = "prewarm"
LABEL = "PreWarm"
DEFAULTS = {"latency_s": 0.5, "preference": 0.75, "window_s": 7.0}


def _choose(plan, nid: str, params: dict) -> dict | None:
    tp = plan.tasks[nid]
    if tp.worker is None or not startup.is_cold(tp.startup) or tp.start_s is None:
        return None
    latency, pref = float(params.get("latency_s", 0.5)), float(params.get("preference", 0.75))
    window = float(params.get("window_s", DEFAULTS["window_s"]))
    dispatch = tp.start_s - (tp.startup_s or 0.0)
    hi = dispatch - latency - (tp.startup_s or 0.0)
    if hi <= 0:
        return None  # wanted from the start: nothing runs early enough to ping it
    lo = min(hi, max(0.0, dispatch - window + latency))
    at = lo + pref * (hi - lo)
    others = [
        (o.start_s, o.node_id)
        for o in plan.tasks.values()
        if o.worker is not None
        and o.worker != tp.worker
        and o.start_s is not None
        and o.end_s is not None
        and o.start_s <= at <= o.end_s
    ]
    if not others:
        # No task runs at that moment: the latest one that starts inside the window sends at its start.
        others = [
            (o.start_s, o.node_id)
            for o in plan.tasks.values()
            if o.worker is not None and o.worker != tp.worker and o.start_s is not None and lo <= o.start_s <= hi
        ]
        if not others:
            return None
        start, sender = max(others)
        at = start
    else:
        start, sender = min(others)
    return {"sender": sender, "send_at_s": round(at, 4), "memory_mb": tp.memory_mb, "worker": tp.worker}


def annotate(plan, graph, predictor, params: dict) -> dict[str, dict]:
    out = {}
    for nid in plan.tasks:
        chosen = _choose(plan, nid, params)
        if chosen is not None:
            out[nid] = chosen
    return out


def forced(nid: str, plan, graph, predictor, params: dict) -> dict | None:
    return _choose(plan, nid, params)
