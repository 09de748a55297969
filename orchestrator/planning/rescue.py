"""Rescue: a run predicted to miss its promise re-plans its tasks not started yet.

When live tracking (``planning.live``) finds a run at risk and the run has
rescue on (``SLAFLOW_RESCUE``, or ``rescue=True`` on the run), ``replan``
moves every task that has not started (not finished, not taken by a branch
or queued) and is planned below the largest configuration onto the largest
one — more CPU for CPU-bound work, since a configuration's CPU share grows
with its memory (``resources``) — and as flexible tasks (WUKONG), so that
each starts in a process of that size as soon as it is ready instead of
waiting for its logical worker's branch. Tasks already running keep the
process they have. The price is an estimate of the extra GB-seconds: each
moved task's planned duration, stretched by the pace the run shows, times
the memory it gains. ::

    >>> plan = {"a": {"m": 512, "s": 0.0, "e": 1.0}, "b": {"m": 512, "s": 1.0, "e": 3.0},
    ...         "c": {"m": 2048, "s": 3.0, "e": 4.0}}
    >>> r = replan(plan, started=["a"], memory_options=(512, 1024, 2048), pace=2.0)
    >>> r.moved, r.to_mb, round(r.extra_gb_s, 3)       # b: 2 s × pace 2 × 1.5 GB more
    ({'b': 512}, 2048, 6.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

REPLAN = "replan"  # the event's kind, beside the alerts' (``planning.live.KINDS``)


@dataclass(frozen=True)
class Replan:
    to_mb: int
    moved: dict[str, int] = field(default_factory=dict)  # task → the configuration it was planned on
    extra_gb_s: float = 0.0
    reason: str = ""

    def to_event(self) -> dict:
        shown = sorted(self.moved)
        return {
            "kind": REPLAN,
            "moved": len(self.moved),
            "to_mb": self.to_mb,
            "tasks": shown[:20] + (["…"] if len(shown) > 20 else []),
            "predicted_extra_gb_s": round(self.extra_gb_s, 3),
            "reason": self.reason,
        }


def replan(
    plan_tasks: Mapping[str, Mapping], *, started: Iterable[str], memory_options: Iterable[int], pace: float = 1.0
) -> Replan:
    """Which tasks of ``plan_tasks`` (compact plan entries: ``m`` memory, ``s``/``e`` planned start and
    end; or full ``memory_mb``/``start_s``/``end_s``) move to the largest of ``memory_options``; ``started``:
    tasks finished, running or queued (a mapped element ``p[3]`` counts for its node)."""
    largest = max(int(mb) for mb in memory_options)
    begun = {n.rpartition("[")[0] if n.endswith("]") and "[" in n else n for n in started}
    moved, extra = {}, 0.0
    for nid, tp in plan_tasks.items():
        mb = int(tp.get("m", tp.get("memory_mb")) or largest)
        if nid in begun or mb >= largest:
            continue
        moved[nid] = mb
        s, e = tp.get("s", tp.get("start_s")), tp.get("e", tp.get("end_s"))
        if isinstance(s, (int, float)) and isinstance(e, (int, float)) and e > s:
            extra += (e - s) * max(pace, 1.0) * (largest - mb) / 1024
    if not moved:
        reason = "nothing to move: every task not started yet is on the largest configuration"
    else:
        reason = f"{len(moved)} tasks not started yet moved to {largest} MB, flexible"
    return Replan(to_mb=largest, moved=moved, extra_gb_s=extra, reason=reason)
