"""Pure computations behind the pages: plain dicts in, plain data out.

Task rows are dicts with TaskRun's field names (``start_s``/``end_s`` are
seconds after the run started); start-up rows are dicts from WorkerStartup
with times converted to seconds after the run started (``requested_s``,
``ready_s``, ``ended_s``). Nothing here touches the database or Redis.
"""

from __future__ import annotations

import statistics
from typing import Iterable, Mapping

from orchestrator.core import sla as sla_mod, startup as startup_kinds

# Where a task's time goes, in drawing order (observed Gantt segments and breakdowns).
TIME_PARTS = ("start-up", "input wait", "exec", "upload", "counters + dispatch")
BREAKDOWN_PARTS = ("exec", "waiting", "transfer", "start-up", "dispatch")
# The task columns ``time_breakdown`` reads (a sum of each over several tasks reads the same).
BREAKDOWN_COLUMNS = ("exec_s", "input_wait_s", "download_s", "upload_s", "counter_update_s", "dispatch_s")


def _num(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def task_segments(task: Mapping) -> list[tuple[str, float, float]]:
    """Observed (part, start, end) of one task, laid end to end from its start.

    The runtime measures input wait (including downloads), exec and upload;
    what remains of start→end is encoding, counter updates and dispatch.
    """
    start, end = task.get("start_s"), task.get("end_s")
    if start is None or end is None:
        return []
    out = []
    t = start
    for part, dur in (
        ("input wait", task.get("input_wait_s")),
        ("exec", task.get("exec_s")),
        ("upload", task.get("upload_s")),
    ):
        d = _num(dur)
        if d > 0:
            out.append((part, t, t + d))
            t += d
    if end - t > 1e-6:
        out.append(("counters + dispatch", t, end))
    return out


def planned_segments(task: Mapping) -> list[tuple[str, float, float]]:
    """Planned (part, start, end) of one task, or [] when the plan made no timing prediction."""
    start, end = task.get("planned_start_s"), task.get("planned_end_s")
    if start is None:
        return []
    out = []
    startup = _num(task.get("planned_startup_s"))
    if startup > 0 and startup_kinds.begins_branch(task.get("planned_startup")):
        out.append(("start-up", max(0.0, start - startup), start))
    parts = [
        ("input wait", task.get("planned_download_s")),
        ("exec", task.get("planned_exec_s")),
        ("upload", task.get("planned_upload_s")),
    ]
    if all(d is None for _, d in parts):
        if end is not None and end > start:
            out.append(("exec", start, end))
        return out
    t = start
    for part, dur in parts:
        d = _num(dur)
        if d > 0:
            out.append((part, t, t + d))
            t += d
    return out


def observed_critical_path(
    upstream: Mapping[str, Iterable[str]], end_s: Mapping[str, float | None], sink: str
) -> list[str]:
    """The chain that actually gated the sink: from the sink, follow the upstream that finished last.

    >>> observed_critical_path({"a": [], "b": [], "c": ["a", "b"]}, {"a": 1.0, "b": 2.0, "c": 3.0}, "c")
    ['b', 'c']
    """
    if end_s.get(sink) is None:
        return []
    path = [sink]
    node = sink
    while True:
        order = list(upstream.get(node, ()))
        ups = [u for u in order if end_s.get(u) is not None]
        if not ups:
            break
        # Ties go to the first upstream in argument order (structure, never names).
        node = max(ups, key=lambda u: (end_s[u], -order.index(u)))
        path.append(node)
    return path[::-1]


def time_breakdown(tasks: Iterable[Mapping], startups: Iterable[Mapping]) -> dict[str, float]:
    """Seconds summed over a run: exec, waiting for inputs, transfer, start-up, dispatch."""
    out = dict.fromkeys(BREAKDOWN_PARTS, 0.0)
    for t in tasks:
        download = _num(t.get("download_s"))
        out["exec"] += _num(t.get("exec_s"))
        out["waiting"] += max(0.0, _num(t.get("input_wait_s")) - download)
        out["transfer"] += download + _num(t.get("upload_s"))
        out["dispatch"] += _num(t.get("counter_update_s")) + _num(t.get("dispatch_s"))
    out["start-up"] = sum(_num(s.get("startup_s")) for s in startups)
    return out


def critical_path_steps(path: list[str], tasks: Mapping[str, Mapping]) -> list[dict]:
    """Per node on a path: the hand-off gap before it (dispatch, queueing, start-up) and its own parts."""
    steps = []
    prev_end = 0.0
    for nid in path:
        t = tasks[nid]
        start, end = t.get("start_s"), t.get("end_s")
        if start is None or end is None:
            break
        download = _num(t.get("download_s"))
        wait = _num(t.get("input_wait_s"))
        steps.append(
            {
                "node_id": nid,
                "gap": max(0.0, start - prev_end),
                "waiting": max(0.0, wait - download),
                "transfer": download + _num(t.get("upload_s")),
                "exec": _num(t.get("exec_s")),
                "other": max(0.0, (end - start) - wait - _num(t.get("exec_s")) - _num(t.get("upload_s"))),
                "start_s": start,
                "end_s": end,
            }
        )
        prev_end = end
    return steps


def critical_path_totals(steps: list[dict]) -> dict[str, float]:
    keys = ("gap", "waiting", "transfer", "exec", "other")
    return {k: sum(s[k] for s in steps) for k in keys}


def pct_diff(planned, observed) -> float | None:
    """(observed - planned) / planned in %, None when either is missing or planned is ~0."""
    if planned is None or observed is None or abs(planned) < 1e-9:
        return None
    return 100.0 * (observed - planned) / planned


def diff_class(pct: float | None) -> str:
    """CSS class for a % difference: within 10 % good, within 50 % fair, beyond bad."""
    if pct is None:
        return ""
    a = abs(pct)
    return "diff-good" if a <= 10 else "diff-fair" if a <= 50 else "diff-bad"


def within_promise(makespan, promise) -> bool | None:
    if makespan is None or promise is None:
        return None
    return makespan <= promise


def sla_success(runs: Iterable[Mapping]) -> list[dict]:
    """Share of runs within their promise, per (planner, SLA); runs without a promise count apart.

    Each run dict needs planner, sla, makespan_s, predicted_makespan_s.
    """
    groups: dict[tuple[str, str], dict] = {}
    for r in runs:
        g = groups.setdefault(
            (r["planner"], r["sla"]), {"planner": r["planner"], "sla": r["sla"], "runs": 0, "judged": 0, "within": 0}
        )
        g["runs"] += 1
        ok = within_promise(r.get("makespan_s"), r.get("predicted_makespan_s"))
        if ok is not None:
            g["judged"] += 1
            g["within"] += int(ok)
    out = []
    for key in sorted(groups, key=lambda k: (k[0], sla_order(k[1]))):
        g = groups[key]
        g["rate"] = g["within"] / g["judged"] if g["judged"] else None
        out.append(g)
    return out


def sla_order(sla: str) -> int:
    """Sort key: average first, then percentiles ascending (anything else last)."""
    try:
        return sla_mod.parse(sla).sort_key
    except sla_mod.SLAError:
        return 1000


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For (cost, makespan) points: True where no other point is at least as good on both and better on one."""
    flags = []
    for i, (c, m) in enumerate(points):
        dominated = any((c2 <= c and m2 <= m) and (c2 < c or m2 < m) for j, (c2, m2) in enumerate(points) if j != i)
        flags.append(not dominated)
    return flags


def median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def relative_error(makespan, promise) -> float | None:
    """(actual - promised) / promised: positive means slower than promised."""
    if makespan is None or promise is None or promise <= 0:
        return None
    return (makespan - promise) / promise


def gantt_bars(tasks: Iterable[Mapping], startups: Iterable[Mapping]) -> list[dict]:
    """Bars for the task stream: observed parts per task, worker start-ups, planned parts when predicted.

    Rows are logical workers; a planned task without a worker (flexible) is
    drawn on the row of the worker that actually ran it.
    """
    bars = []
    for s in startups:
        end = s.get("ready_s") if s.get("ready_s") is not None else s.get("ended_s")
        if s.get("requested_s") is None or end is None:
            continue
        kind = "cold" if s["cold"] else "warm"
        bars.append(
            {
                "row": s["worker_id"] or "?",
                "part": f"start-up ({kind})",
                "start": s["requested_s"],
                "end": end,
                "planned": False,
                "text": f"{kind} start-up of {s['worker_id']} ({s['memory_mb']} MB): "
                f"{end - s['requested_s']:.4f} s" + (" · pre-warmed" if s.get("prewarmed") else ""),
            }
        )
    for t in tasks:
        row = t.get("worker_id") or t.get("planned_worker") or "?"
        for part, start, end in task_segments(t):
            bars.append(
                {
                    "row": row,
                    "part": part,
                    "start": start,
                    "end": end,
                    "planned": False,
                    "node_id": t["node_id"],
                    "text": f"{t['node_id']} {part}: {end - start:.4f} s",
                }
            )
        prow = t.get("planned_worker") or row
        for part, start, end in planned_segments(t):
            bars.append(
                {
                    "row": prow,
                    "part": part,
                    "start": start,
                    "end": end,
                    "planned": True,
                    "node_id": t["node_id"],
                    "text": f"{t['node_id']} planned {part}: {end - start:.4f} s",
                }
            )
    return bars


COMPARED = (
    ("start", "planned_start_s", "start_s", "s"),
    ("end", "planned_end_s", "end_s", "s"),
    ("start-up", "planned_startup_s", "startup_s", "s"),
    ("input wait", None, "input_wait_s", "s"),  # observed only: the plan predicts downloads, not waiting
    ("download", "planned_download_s", "download_s", "s"),
    ("exec", "planned_exec_s", "exec_s", "s"),
    ("upload", "planned_upload_s", "upload_s", "s"),
    ("input", "planned_input_bytes", "input_bytes", "B"),
    ("output", "planned_output_bytes", "output_bytes", "B"),
)


def task_comparison(tasks: Iterable[Mapping], startup_of: Mapping[str, float]) -> list[dict]:
    """Per task: planned and observed values side by side with the % difference and its class.

    ``startup_of`` maps a node to the measured start-up of the branch it began
    (tasks continued inside a branch have none).
    """
    rows = []
    for t in tasks:
        observed = dict(t)
        observed["startup_s"] = startup_of.get(t["node_id"])
        cells = []
        for label, p_key, o_key, unit in COMPARED:
            planned, value = t.get(p_key) if p_key else None, observed.get(o_key)
            pct = pct_diff(planned, value)
            cells.append(
                {
                    "label": label,
                    "planned": planned,
                    "observed": value,
                    "pct": pct,
                    "cls": diff_class(pct),
                    "unit": unit,
                }
            )
        rows.append(
            {
                "node_id": t["node_id"],
                "function": t["function"].rsplit(".", 1)[-1],
                "status": t["status"],
                "planned_worker": t.get("planned_worker") or "flexible",
                "worker_id": t.get("worker_id") or "",
                "planned_memory_mb": t.get("planned_memory_mb"),
                "memory_mb": t.get("memory_mb"),
                "startup": t.get("startup") or "",
                "planned_startup": t.get("planned_startup") or "",
                "critical": bool(t.get("planned_critical")),
                "cells": cells,
            }
        )
    return rows


def has_predictions(tasks: Iterable[Mapping]) -> bool:
    return any(t.get(k) is not None for t in tasks for _, k, _, _ in COMPARED if k)


def per_function(tasks: Iterable[Mapping]) -> list[dict]:
    """Per task function: count, mean exec and input wait, bytes moved and download speed."""
    groups: dict[str, list[Mapping]] = {}
    for t in tasks:
        groups.setdefault(t["function"], []).append(t)
    out = []
    for fn, rows in groups.items():
        done = [t for t in rows if t.get("exec_s") is not None]
        downloaded = sum(i.get("bytes", 0) for t in rows for i in (t.get("inputs") or []) if not i.get("local"))
        download_s = sum(_num(t.get("download_s")) for t in rows)
        out.append(
            {
                "function": fn.rsplit(".", 1)[-1],
                "path": fn,
                "tasks": len(rows),
                "finished": len(done),
                "mean_exec_s": statistics.fmean(_num(t["exec_s"]) for t in done) if done else None,
                "mean_wait_s": statistics.fmean(_num(t.get("input_wait_s")) for t in done) if done else None,
                "output_bytes": sum(t.get("output_bytes") or 0 for t in rows),
                "downloaded_bytes": downloaded,
                "download_mb_s": downloaded / download_s / 1e6 if download_s > 1e-9 and downloaded else None,
            }
        )
    return out
