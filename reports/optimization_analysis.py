"""Pure computations behind the optimization dashboards: what each optimization did, and its effect.

Inputs are plain dicts: task rows with TaskRun's field names (times in seconds
after the run started), start-up rows as ``selectors.runs.startups_of`` makes
them, ``WorkflowRun.optimizations`` as ``orchestrator.services.optimization_stats``
sums it (plus "clustering" and "streaming" once those optimizations record
them), and a plan's per-task annotations ``{node: {optimization: params}}``.
Nothing here touches the database or Redis.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from orchestrator import planning
from reports.analysis import _num, median

# --- one run ---------------------------------------------------------------------------------------


def preload_rows(tasks: Iterable[Mapping], annotations: Mapping[str, Mapping]) -> list[dict]:
    """Per task the plan preloaded for (or that took preloaded inputs): each input, fetched early or not.

    An input the plan listed is *early* when the worker's fetching thread had it
    (``via == "preload"``); otherwise the task *waited* for it itself at its start.
    """
    out = []
    for t in tasks:
        planned = list(((annotations.get(t["node_id"]) or {}).get("preload") or {}).get("inputs") or ())
        inputs = list(t.get("inputs") or ())
        taken = [i["node"] for i in inputs if i.get("via") == "preload"]
        if not planned and not taken:
            continue
        by_node = {i["node"]: i for i in inputs}
        rows = []
        for node in dict.fromkeys(planned + taken):
            i = by_node.get(node, {})
            how = (
                "early"
                if i.get("via") == "preload"
                else "in memory"
                if i.get("local")
                else "waited"
                if i
                else "not fetched"
            )
            rows.append(
                {
                    "node": node,
                    "bytes": i.get("bytes"),
                    "download_s": i.get("download_s"),
                    "how": how,
                    "planned": node in planned,
                }
            )
        out.append(
            {
                "node_id": t["node_id"],
                "worker_id": t.get("worker_id") or "",
                "inputs": rows,
                "early": sum(r["how"] == "early" for r in rows),
                "waited": sum(r["how"] == "waited" for r in rows),
                "preload_waited_s": _num((t.get("optimizations") or {}).get("preload_waited_s")),
                "input_wait_s": t.get("input_wait_s"),
                "start_s": t.get("start_s"),
            }
        )
    return out


def branch_starts(startups: Iterable[Mapping]) -> dict[str, float]:
    """Entry node → when the first branch that began with it was picked up (s after the run started)."""
    out: dict[str, float] = {}
    for s in sorted((s for s in startups if s.get("started_s") is not None), key=lambda s: s["started_s"]):
        for nid in s.get("entry_nodes") or ():
            out.setdefault(nid, s["started_s"])
    return out


def prewarm_timeline(
    pings: Mapping[str, Mapping], startups: Iterable[Mapping], tasks: Iterable[Mapping] = ()
) -> list[dict]:
    """Per pre-warm ping: when it was sent and when its target branch started (s after the run started).

    The run's summary keeps each ping's gap (ping → target branch picked up);
    the send time is the target's start minus that gap. A target that never
    started has no times.
    """
    starts = branch_starts(startups)
    task_start = {t["node_id"]: t.get("start_s") for t in tasks}
    out = []
    for target, p in sorted(pings.items()):
        start, gap = starts.get(target), p.get("gap_s")
        sent = start - gap if start is not None and gap is not None else None
        out.append(
            {
                "target": target,
                "sender": p.get("sender") or "",
                "sent_s": sent,
                "start_s": start,
                "task_start_s": task_start.get(target),
                "gap_s": gap,
                "hit": bool(p.get("hit")),
                "handed_off": bool(p.get("handed_off")),
            }
        )
    return out


def clustering_rows(tasks: Iterable[Mapping]) -> list[dict]:
    """Producers that ran their children in their own branch, with the bytes they did not upload."""
    out = []
    for t in tasks:
        o = t.get("optimizations") or {}
        children = list(o.get("clustered_children") or ())
        delayed = o.get("delayed_io") or {}
        if not children and not delayed:
            continue
        out.append(
            {
                "node_id": t["node_id"],
                "worker_id": t.get("worker_id") or "",
                "children": children,
                "not_uploaded_bytes": int(o.get("not_uploaded_bytes") or 0),
                "delayed_waited_s": delayed.get("waited_s"),
                "picked": list(delayed.get("picked") or ()),
            }
        )
    return out


def streaming_rows(tasks: Iterable[Mapping]) -> list[dict]:
    """Producers that streamed their output, with the consumers that took it as a stream."""
    tasks = list(tasks)
    consumers: dict[str, list[str]] = {}
    for t in tasks:
        for i in t.get("inputs") or ():
            if i.get("via") == "stream":
                consumers.setdefault(i["node"], []).append(t["node_id"])
    out = []
    for t in tasks:
        s = (t.get("optimizations") or {}).get("streamed") or {}
        if s or t["node_id"] in consumers:
            out.append(
                {
                    "node_id": t["node_id"],
                    "bytes": int(s.get("bytes") or 0),
                    "chunks": int(s.get("chunks") or 0),
                    "consumers": consumers.get(t["node_id"], []),
                }
            )
    return out


def task_time_parts(tasks: Iterable[Mapping]) -> list[dict]:
    """Per task that ran: where its time went, with input wait split into downloads and pure waiting."""
    out = []
    for t in tasks:
        if t.get("start_s") is None or t.get("end_s") is None:
            continue
        wait, download = _num(t.get("input_wait_s")), _num(t.get("download_s"))
        exec_s, upload = _num(t.get("exec_s")), _num(t.get("upload_s"))
        out.append(
            {
                "node_id": t["node_id"],
                "waiting": max(0.0, wait - download),
                "download": min(download, wait),
                "exec": exec_s,
                "upload": upload,
                "other": max(0.0, t["end_s"] - t["start_s"] - wait - exec_s - upload),
            }
        )
    return out


def run_panels(detail: dict) -> dict:
    """Everything the run page's optimization panels draw, from ``runs.run_detail``'s data."""
    tasks, opts, annotations = detail["tasks"], detail["run"]["optimizations"], detail["task_annotations"]
    return {
        "used": sorted({name for a in annotations.values() for name in a}),
        "preload": preload_rows(tasks, annotations),
        "prewarm": prewarm_timeline((opts.get("prewarm") or {}).get("pings") or {}, detail["startups"], tasks),
        "clustering": opts.get("clustering"),
        "clustered": clustering_rows(tasks),
        "streaming": opts.get("streaming"),
        "streamed": streaming_rows(tasks),
        "task_parts": task_time_parts(tasks),
    }


# --- across runs of a workflow ---------------------------------------------------------------------

# (label, path into WorkflowRun.optimizations): what the median-count chart counts per run.
COUNTED = (
    ("preloaded inputs", ("preload", "inputs")),
    ("pre-warm pings", ("prewarm", "sent")),
    ("pre-warm hits", ("prewarm", "hits")),
    ("duplicates", ("taskdup", "dups")),
    ("duplicates won", ("taskdup", "won")),
    ("clustered tasks", ("clustering", "tasks")),
    ("delayed-I/O pick-ups", ("clustering", "delayed_hits")),
    ("streamed outputs", ("streaming", "outputs")),
)
ON_OFF_METRICS = (
    ("makespan_s", "makespan (s)"),
    ("input_wait_s", "input wait (s)"),
    ("bytes_written", "bytes written"),
    ("gb_seconds", "GB-seconds"),
)


def variant(planner: str, used: Iterable[str]) -> str:
    """How a run was optimized: its planner, plus the optimizations forced on a planner without ``-opt``."""
    used = sorted(set(used))
    if planner.endswith("-opt") or not used:
        return planner
    return f"{planner} + {'+'.join(used)}"


def _count(opts: Mapping, path: tuple[str, str]) -> int:
    value = (opts.get(path[0]) or {}).get(path[1])
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def median_counts(runs: Iterable[Mapping]) -> dict[str, dict[str, float]]:
    """``-opt`` planner → {what: median per run}; a run where something did not happen counts 0.

    Only what happened in at least one run is kept (the chart shows no empty rows).
    """
    per: dict[str, list[Mapping]] = {}
    for r in runs:
        if r["planner"].endswith("-opt"):
            per.setdefault(r["planner"], []).append(r.get("optimizations") or {})
    seen = [label for label, path in COUNTED if any(_count(o, path) for rs in per.values() for o in rs)]
    paths = dict(COUNTED)
    return {p: {label: median(_count(o, paths[label]) for o in rs) for label in seen} for p, rs in sorted(per.items())}


# Below these, a metric's change in % is noise (a few ms of input wait "+28 %"): no change is shown.
NEGLIGIBLE = {"makespan_s": 0.01, "input_wait_s": 0.01}


def _change(off, on, negligible: float = 0.0) -> float | None:
    if off is None or on is None or abs(off) < 1e-12 or max(abs(off), abs(on)) < negligible:
        return None
    return 100.0 * (on - off) / off


def on_off(runs: Iterable[Mapping]) -> list[dict]:
    """Each optimized variant against the plain planner it builds on, over the same workflow's runs.

    ``runs``: dicts with planner, variant, and the ON_OFF_METRICS fields.
    Pairs: ``X`` vs ``X-opt``, and ``X`` vs ``X + forced optimizations``; one
    row per pair with medians and the change in % (negative: the optimized
    variant needed less).
    """
    groups: dict[str, list[Mapping]] = {}
    for r in runs:
        groups.setdefault(r["variant"], []).append(r)
    out = []
    for name in sorted(groups):
        base = planning.base_name(name.split(" + ")[0])
        if name == base or base not in groups:
            continue
        off, on = groups[base], groups[name]
        metrics = {}
        for key, label in ON_OFF_METRICS:
            m_off, m_on = median(r.get(key) for r in off), median(r.get(key) for r in on)
            metrics[key] = {
                "label": label,
                "off": m_off,
                "on": m_on,
                "change_pct": _change(m_off, m_on, NEGLIGIBLE.get(key, 0.0)),
            }
        out.append(
            {
                "label": f"{name} vs {base}",
                "off": base,
                "on": name,
                "off_runs": len(off),
                "on_runs": len(on),
                "metrics": metrics,
            }
        )
    return out


def preload_starts(rows: Iterable[Mapping]) -> list[dict]:
    """Tasks that took preloaded inputs in some run, against the same tasks in runs without PreLoad.

    ``rows``: one per task and run with node_id, start_s, input_wait_s,
    ``preloaded`` (this task took inputs from the preloading thread) and
    ``run_preload`` (the run's plan used PreLoad at all). *Ready* is when the
    task's inputs were all in memory: start + input wait.
    """
    rows = list(rows)
    nodes = sorted({r["node_id"] for r in rows if r.get("preloaded")})
    out = []
    for nid in nodes:
        mine = [r for r in rows if r["node_id"] == nid and r.get("start_s") is not None]
        sides = {
            "with": [r for r in mine if r.get("preloaded")],
            "without": [r for r in mine if not r.get("run_preload")],
        }
        entry = {"node_id": nid}
        for side, rs in sides.items():
            entry[side] = {
                "runs": len(rs),
                "start_s": [r["start_s"] for r in rs],
                "ready_s": [r["start_s"] + _num(r.get("input_wait_s")) for r in rs],
                "median_start_s": median(r["start_s"] for r in rs),
                "median_wait_s": median(_num(r.get("input_wait_s")) for r in rs),
                "median_ready_s": median(r["start_s"] + _num(r.get("input_wait_s")) for r in rs),
            }
        out.append(entry)
    return out


def prewarm_effectiveness(pings: Iterable[Mapping]) -> dict[str, dict]:
    """Per planner over its runs' pings: sent, hits, hit rate, median ping → target start."""
    out: dict[str, dict] = {}
    for p in pings:
        g = out.setdefault(p["planner"], {"sent": 0, "hits": 0, "gaps": []})
        g["sent"] += 1
        g["hits"] += int(bool(p.get("hit")))
        if p.get("gap_s") is not None:
            g["gaps"].append(p["gap_s"])
    return {
        k: {
            "sent": g["sent"],
            "hits": g["hits"],
            "rate": g["hits"] / g["sent"] if g["sent"] else None,
            "median_gap_s": median(g["gaps"]),
        }
        for k, g in sorted(out.items())
    }


def startups_by_planner(startups: Iterable[Mapping]) -> dict[str, dict[str, int]]:
    """planner → start-ups that were cold, warm because a ping warmed them, and warm otherwise."""
    out: dict[str, dict[str, int]] = {}
    for s in startups:
        g = out.setdefault(s["planner"], {"cold": 0, "warm (pre-warmed)": 0, "warm": 0})
        g["cold" if s["cold"] else "warm (pre-warmed)" if s.get("prewarmed") else "warm"] += 1
    return dict(sorted(out.items()))
