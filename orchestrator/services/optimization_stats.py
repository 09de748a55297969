"""What a run's optimizations did, summed when it ends (``WorkflowRun.optimizations``).

    {"counts": {event: n},                                   every event its tasks recorded
     "preload": {"tasks", "inputs", "waited_s"},              inputs fetched early, and what the tasks still waited
     "prewarm": {"sent", "taken", "hits", "handed_off", "hit_rate", "gaps_s", "pings"},
                                                              pings, how many targets started warm, ping → start
     "taskdup": {"dups", "won", "refused", "predicted_saving_s", "actual_saving_s"},
     "clustering": {"tasks", "producers", "bytes_not_uploaded", "delayed", "delayed_hits", "delay_s"},
                                                              children run where their big input was made; delayed I/O
     "streaming": {"outputs", "bytes", "chunks", "consumers", "generators", "items"}}
                                                              outputs read while written (chunks; a generator's
                                                              items), and their readers

``refused``: times a worker wanted to duplicate a task whose lock another held.
A pre-warm *hit* is a target branch that started on a process the ping warmed
(``WorkerStartup.reason == "prewarmed"``). A duplicate's actual saving is the
time its original was expected to make the task's output available
(its real start plus its predicted exec, upload and download) minus when the
duplicate did, for duplicates that won.
"""

from __future__ import annotations

import json

from orchestrator.models import TaskRun, WorkerStartup
from store import dataplane


def _counts(rows) -> dict[str, int]:
    counts: dict[str, int] = {}
    for opts in rows:
        for name, value in (opts or {}).items():
            if isinstance(value, float) or name.endswith("_bytes"):
                continue  # a measure (seconds, bytes), not an event
            if isinstance(value, bool) or not isinstance(value, (int, list, dict)):
                n = 1
            elif isinstance(value, int):
                n = value
            elif isinstance(value, list):
                n = len(value)
            else:
                n = 1
            counts[name] = counts.get(name, 0) + n
    return counts


def summarize(run_id: int, run_started_at: float | None) -> dict:
    rows = list(TaskRun.objects.filter(run_id=run_id).exclude(optimizations={}).values_list("optimizations", flat=True))
    out: dict = {"counts": _counts(rows)}
    preloaded = [r for r in rows if r.get("preload")]
    if preloaded:
        out["preload"] = {
            "tasks": len(preloaded),
            "inputs": sum(len(r["preload"]) for r in preloaded),
            "waited_s": round(sum(float(r.get("preload_waited_s") or 0.0) for r in preloaded), 6),
        }
    pings = {k: json.loads(v) for k, v in dataplane.hash_of(dataplane.keys.prewarms(run_id)).items()}
    if pings:
        starts = {}
        for entries, reason, started, pid in (
            WorkerStartup.objects.filter(run_id=run_id)
            .order_by("started_at")
            .values_list("entry_nodes", "reason", "started_at", "pid")
        ):
            for nid in entries or ():
                starts.setdefault(nid, (reason, started.timestamp(), pid))
        taken = {k: json.loads(v) for k, v in dataplane.hash_of(dataplane.keys.prewarmed(run_id)).items()}
        handed = {t for r in rows for t in (r.get("prewarm_handed_off") or ())}
        hits, gaps, detail = 0, [], {}
        for target, ping in sorted(pings.items()):
            reason, started, pid = starts.get(target, (None, None, None))
            hits += reason == "prewarmed"
            gap = round(started - float(ping["sent_at"]), 4) if started is not None else None
            if gap is not None:
                gaps.append(gap)
            detail[target] = {
                "sender": ping.get("sender"),
                "worker": ping.get("worker"),
                "memory_mb": ping.get("memory_mb"),
                "gap_s": gap,
                "hit": reason == "prewarmed",
                "taken_by": (taken.get(target) or {}).get("pid"),
                "started_on": pid,
                "handed_off": target in handed,
            }
        out["prewarm"] = {
            "sent": len(pings),
            "taken": len(taken),
            "hits": hits,
            "handed_off": len(handed),
            "hit_rate": round(hits / len(pings), 4),
            "gaps_s": gaps,
            "pings": detail,
        }
    clustered = [r for r in rows if r.get("clustered_children") or "not_uploaded_bytes" in r or r.get("delayed_io")]
    if clustered:
        delayed = [r["delayed_io"] for r in clustered if r.get("delayed_io")]
        out["clustering"] = {
            "tasks": sum(1 for r in rows if r.get("clustered")),
            "producers": sum(1 for r in clustered if r.get("clustered_children")),
            "bytes_not_uploaded": sum(int(r.get("not_uploaded_bytes") or 0) for r in clustered),
            "delayed": len(delayed),
            "delayed_hits": sum(len(d.get("picked") or ()) for d in delayed),
            "delay_s": round(sum(float(d.get("waited_s") or 0.0) for d in delayed), 4),
        }
    streamed = [r["streamed"] for r in rows if r.get("streamed")]
    generators = [int(r["streamed_items"]) for r in rows if "streamed_items" in r]
    if streamed or generators:
        readers = sum(
            1
            for inputs in TaskRun.objects.filter(run_id=run_id).values_list("inputs", flat=True)
            for entry in inputs or ()
            if entry.get("via") == "stream"
        )
        out["streaming"] = {
            "outputs": len(streamed),
            "bytes": sum(int(s["bytes"]) for s in streamed),
            "chunks": sum(int(s["chunks"]) for s in streamed),
            "consumers": readers,
            "generators": len(generators),
            "items": sum(generators),
        }
    dups = [json.loads(v) for v in dataplane.hash_of(dataplane.keys.dups(run_id)).values()]
    attempts = dataplane.hash_of(dataplane.keys.dup_attempts(run_id))
    if dups or attempts:
        won = [d for d in dups if d.get("won")]
        out["taskdup"] = {
            "dups": len(dups),
            "won": len(won),
            "refused": sum(int(v) for k, v in attempts.items() if k.endswith(":refused")),
            "predicted_saving_s": round(sum(float(d.get("predicted_saving_s") or 0) for d in dups), 4),
            "actual_saving_s": round(sum(float(d["expected_ready"]) - float(d["done_at"]) for d in won), 4),
        }
    return out
