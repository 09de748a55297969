"""Live tracking: a running run's completion re-predicted from what has finished.

The plan says when each task should end (``TaskPlan.end_s``, seconds after
the run started), scaled here so that the last end is the plan's *typical*
makespan (``predicted_median_s``; the point simulation at a high percentile
would start every run "late"). While the run executes, the watcher
(``orchestrator.services.alerts``) knows the tasks that finished and the
time since the start; the rule is

    next      E = the earliest planned end among the tasks not finished yet
                  (where the plan expected the run to be next)
    late        = max(0, elapsed − E)
    pace        = elapsed / E when late and E is at least ``min_progress``
                  of the plan (observed ÷ planned time so far), else 1
    predicted   = max(typical, elapsed + (typical − E) × pace)

— the rest of the plan after E, at the pace seen so far, from now. A run on
time predicts its plan; a task that hangs keeps E where it is while
``elapsed`` grows, so a stalled run is predicted late without any task
finishing; early in a run (E small) one late start-up would multiply into a
wild pace, so there only the delay carries over. A mapped node counts as
finished once one of its elements did (the plan knows the node, not its
elements).

The run is *at risk* when the prediction exceeds the promise by more than
``margin`` (relative) before the promise's deadline, and *missed* once the
deadline passed with the run unfinished (or it finished late). ::

    >>> ends = {"a": 1.0, "b": 2.0, "c": 4.0}
    >>> predict(ends, typical_s=4.0, done=["a"], elapsed_s=1.5).predicted_makespan_s   # on time
    4.0
    >>> p = predict(ends, typical_s=4.0, done=["a"], elapsed_s=4.0)   # b, due at 2 s, still running at 4 s
    >>> p.next_s, p.pace, p.predicted_makespan_s
    (2.0, 2.0, 8.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

AT_RISK, MISSED = "sla_at_risk", "sla_missed"
KINDS = (AT_RISK, MISSED)


@dataclass(frozen=True)
class Prediction:
    elapsed_s: float
    next_s: float  # the earliest planned end among the unfinished tasks (the typical makespan when none)
    pace: float
    predicted_makespan_s: float


def planned_ends(plan_tasks: Mapping[str, Mapping], typical_s: float | None) -> dict[str, float]:
    """Each task's planned end (compact plan entries' ``e``, or full ``end_s``) scaled to ``typical_s``."""
    ends = {}
    for nid, tp in plan_tasks.items():
        e = tp.get("e", tp.get("end_s"))
        if isinstance(e, (int, float)) and e >= 0:
            ends[nid] = float(e)
    last = max(ends.values(), default=0.0)
    if typical_s and last > 0:
        ends = {nid: e * typical_s / last for nid, e in ends.items()}
    return ends


def predict(
    ends: Mapping[str, float], *, typical_s: float, done: Iterable[str], elapsed_s: float, min_progress: float = 0.25
) -> Prediction:
    """The run's predicted makespan ``elapsed_s`` after it started, with the tasks ``done`` finished."""
    finished = {n.rpartition("[")[0] if n.endswith("]") and "[" in n else n for n in done}
    upcoming = min((e for n, e in ends.items() if n not in finished), default=typical_s)
    upcoming = min(upcoming, typical_s)
    late = elapsed_s > upcoming
    pace = elapsed_s / upcoming if late and upcoming > 0 and upcoming >= min_progress * typical_s else 1.0
    predicted = max(typical_s, elapsed_s + (typical_s - upcoming) * pace) if late else typical_s
    return Prediction(elapsed_s=elapsed_s, next_s=upcoming, pace=pace, predicted_makespan_s=max(predicted, elapsed_s))


def verdict(p: Prediction, *, promise_s: float, margin: float = 0.05) -> str | None:
    """``MISSED`` once the promise's deadline passed, ``AT_RISK`` when the prediction exceeds it by more
    than ``margin`` before then, else None."""
    if p.elapsed_s > promise_s:
        return MISSED
    if p.predicted_makespan_s > promise_s * (1 + margin):
        return AT_RISK
    return None
