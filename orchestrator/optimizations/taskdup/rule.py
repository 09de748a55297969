"""TaskDup's rule: which upstreams a waiting worker may duplicate, and when duplicating pays.

Rule: for a planned task, its upstreams on other workers that are *duppable*
— fast (typical exec ≤ ``max_exec_s``), with small inputs (≤
``max_input_bytes``) and outputs of at least ``min_output_bytes`` and no
smaller than their inputs — with the typical times the decision needs.

The run-time decision (the prior system's rule, ``decide``), asked by
``taskdup.runtime`` while a branch waits for such a task's last inputs: for
each unfinished candidate ``u``::

    expected_ready  = start(u) + exec(u) + upload(u) + download(u → here)
    potential_ready = now + download(u's inputs → here) + exec(u, here)

(``start(u)`` is when ``u`` really began, or now if it has not; a ``u`` running
past its typical ``exec(u)`` is expected to run as long again as it has so
far), and the candidate with the largest saving is duplicated when
``potential_ready + threshold_s < expected_ready`` — and only while the run's
other running tasks leave a core of the cluster free (``cores_taken``).

Pure: plans, predictions and times in, choices out; the runtime reads the times from Redis.
"""

from __future__ import annotations

from orchestrator.planning.predictor import SLA, PredictionError

NAME = "taskdup"
LABEL = "TaskDup"
DEFAULTS = {
    "threshold_s": 0.15,
    "max_exec_s": 1.0,
    "max_input_bytes": 1 << 20,
    "min_output_bytes": 256 << 10,
    "poll_s": 0.1,
}
TYPICAL = SLA(50)


def _candidates(plan, graph, predictor, nid: str, params: dict) -> dict[str, dict]:
    """``nid``'s duppable upstreams on other workers, with the typical (median) times the decision needs:
    a straggler is judged against what the task usually takes, not against a tail quantile."""
    tp = plan.tasks[nid]
    if tp.worker is None or predictor is None:
        return {}
    out = {}
    here = tp.memory_mb
    for u in graph[nid].upstream:
        up = plan.tasks[u]
        if up.worker is None or up.worker == tp.worker:
            continue
        if (up.input_bytes or 0) > float(params.get("max_input_bytes", DEFAULTS["max_input_bytes"])):
            continue
        if (up.output_bytes or 0) < max(
            float(params.get("min_output_bytes", DEFAULTS["min_output_bytes"])), up.input_bytes or 0
        ):
            continue  # duplicating saves the output's transfer: worth it only for a big one
        try:
            fn = graph[u].function
            exec_s = predictor.exec_time(fn, up.memory_mb, up.input_bytes or 0, TYPICAL)
            if exec_s > float(params.get("max_exec_s", DEFAULTS["max_exec_s"])):
                continue
            local_inputs = sum(
                predictor.transfer_time("download", plan.tasks[x].output_bytes or 0, here, TYPICAL)
                for x in graph[u].upstream
            )
            out[u] = {
                "exec_s": round(exec_s, 6),
                "upload_s": round(predictor.transfer_time("upload", up.output_bytes or 0, up.memory_mb, TYPICAL), 6),
                "download_s": round(predictor.transfer_time("download", up.output_bytes or 0, here, TYPICAL), 6),
                "exec_local_s": round(predictor.exec_time(fn, here, up.input_bytes or 0, TYPICAL), 6),
                "download_local_s": round(local_inputs, 6),
            }
        except PredictionError:
            continue
    return out


def annotate(plan, graph, predictor, params: dict) -> dict[str, dict]:
    out = {}
    for nid in plan.tasks:
        found = _candidates(plan, graph, predictor, nid, params)
        if found:
            out[nid] = {"candidates": found, "threshold_s": float(params.get("threshold_s", DEFAULTS["threshold_s"]))}
    return out


def forced(nid: str, plan, graph, predictor, params: dict) -> dict | None:
    """Forced on a task: it may be duplicated by the consumers waiting for it."""
    out = None
    for c in (c for c, node in graph.items() if nid in node.upstream):
        found = _candidates(
            plan, graph, predictor, c, dict(params, max_exec_s=float("inf"), max_input_bytes=float("inf"))
        )
        if nid in found:
            out = out or {}
            out.setdefault("for", []).append(c)
    return out


def decide(
    now: float, starts: dict[str, float | None], done: set[str], candidates: dict[str, dict], threshold_s: float
) -> tuple[str, float, float] | None:
    """(task, predicted saving, expected ready) of the candidate to duplicate now, or None (pure).

    A candidate that has not begun is expected to begin now; one running past its typical time is
    expected to run as long again as it has so far (durations are heavy-tailed: the longer a
    straggler has run, the longer it will likely still run) — the notes' rule, which kept the
    typical time, could never duplicate a task once it was late."""
    best = None
    for u, c in sorted(candidates.items()):
        if u in done:
            continue
        start = starts.get(u)
        start = now if start is None else min(start, now)
        elapsed = now - start
        runs_for = c["exec_s"] if elapsed <= c["exec_s"] else 2 * elapsed
        expected = start + runs_for + c["upload_s"] + c["download_s"]
        potential = now + c["download_local_s"] + c["exec_local_s"]
        if potential + threshold_s < expected and (best is None or expected - potential > best[1]):
            best = (u, expected - potential, expected)
    return best


def cores_taken(running: int, cores: float) -> bool:
    """Whether a run's ``running`` tasks (begun; a branch waiting for a task's inputs has not begun it)
    already take the cluster's ``cores``: a duplicate then only takes CPU from the original it races
    (measured on the WfCommons family: with every core busy every duplicate lost, the runs were slower)."""
    return running >= cores
