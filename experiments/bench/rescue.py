"""``bench rescue``: attainment with rescue against without, on a run slowed down mid-way, and its price.

The scenario: a chain of ``tasks`` CPU-bound ``dialed`` tasks (``busy_s`` CPU-seconds each), planned by
uniform on the smallest configuration (a plan that saves memory: its CPU share is small). ``history``
runs at the usual pace give it history and a promise at ``sla``; then ``pairs`` pairs of runs with the
work multiplied by ``slowdown`` (the injected slow-down), one with rescue off and one with it on, in
alternating order. Each slowed run is deleted once measured, so every one is planned from the same
history (a slowed run in it would raise the next promises). Reported: per side the share of runs within
their promise (attainment), median makespan and measured GB-seconds (and their spread), the extra
GB-seconds rescue paid (median with − median without), and the lead time of the ``sla_at_risk`` alert
before the promise's deadline (deadline − alert, over every slowed run that fired one).
"""

from __future__ import annotations

import statistics
from typing import Callable

STEPS_PER_PAIR = 2


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def _spread(values):
    values = [v for v in values if v is not None]
    return [round(min(values), 4), round(max(values), 4)] if values else None


def graph(tasks: int, busy_s: float):
    from experiments.bench import tasks as t
    from orchestrator.core.authoring import build_graph

    x = t.inc(0)
    for _ in range(tasks):
        x = t.dialed(x, busy_s)
    return build_graph(x)


def figures(rows: list[dict]) -> dict:
    """``rows``: slowed runs with rescue (bool), makespan_s, promise_s, gb_seconds, lead_s (None: no alert)."""
    out = {}
    for side, label in ((False, "without"), (True, "with")):
        mine = [r for r in rows if r["rescue"] is side]
        judged = [r for r in mine if r["promise_s"]]
        out[label] = {
            "runs": len(mine),
            "attainment": sum(r["makespan_s"] <= r["promise_s"] for r in judged) / len(judged) if judged else None,
            "makespan_median": _median([r["makespan_s"] for r in mine]),
            "makespan_spread": _spread([r["makespan_s"] for r in mine]),
            "gb_seconds_median": _median([r["gb_seconds"] for r in mine]),
            "gb_seconds_spread": _spread([r["gb_seconds"] for r in mine]),
            "replans": sum(1 for r in mine if r.get("replanned")),
        }
    w, o = out["with"], out["without"]
    out["attainment_gain"] = (
        w["attainment"] - o["attainment"] if w["attainment"] is not None and o["attainment"] is not None else None
    )
    out["extra_gb_seconds"] = (
        round(w["gb_seconds_median"] - o["gb_seconds_median"], 4)
        if w["gb_seconds_median"] is not None and o["gb_seconds_median"] is not None
        else None
    )
    leads = [r["lead_s"] for r in rows if r.get("lead_s") is not None]
    out["alert_lead_s_median"], out["alert_lead_s_spread"], out["alerts"] = _median(leads), _spread(leads), len(leads)
    out["promise_median"] = _median([r["promise_s"] for r in rows])
    return out


def bench(
    *,
    tasks: int,
    busy_s: float,
    slowdown: float,
    history: int,
    pairs: int,
    sla: str,
    timeout_s: float,
    progress: Callable[[str], None] = lambda msg: None,
) -> dict:
    from django.conf import settings
    from django.test import override_settings

    from orchestrator.handles import RunHandle
    from orchestrator.models import WorkflowRun
    from orchestrator.planning import live, rescue
    from orchestrator.services.runs import submit_run
    from store import keys
    from store.redis_client import get_redis

    name = f"bench-rescue-{tasks}x{busy_s:g}"
    if WorkflowRun.objects.filter(workflow__name=name).exists():
        raise RuntimeError(
            f"this database already holds runs of {name!r}: the scenario starts from no history (use a fresh database)"
        )
    g, smallest = graph(tasks, busy_s), min(settings.SLAFLOW_RESOURCE_CONFIGS)
    client = get_redis()

    def run(planner: str, with_rescue: bool = False) -> int:
        made = submit_run(graph=g, name=name, planner=planner, sla=sla, rescue=with_rescue)
        if RunHandle(made.pk).result(timeout=timeout_s) != tasks + 1:
            raise RuntimeError(f"run {made.pk} of {name} computed a wrong result")
        return made.pk

    rows = []
    client.delete(keys.bench_slowdown())
    try:
        with override_settings(SLAFLOW_DEFAULT_MEMORY_MB=smallest):  # uniform (and WUKONG) plan every task there
            for k in range(history):
                progress(f"history run {k + 1}/{history}")
                run("wukong" if k < 2 else "uniform")
            for k in range(pairs):
                for side in (False, True) if k % 2 == 0 else (True, False):
                    progress(f"slowed run, pair {k + 1}/{pairs}, rescue {'on' if side else 'off'}")
                    client.set(keys.bench_slowdown(), slowdown)
                    try:
                        run_id = run("uniform", side)
                    finally:
                        client.delete(keys.bench_slowdown())
                    r = WorkflowRun.objects.get(pk=run_id)
                    risk = next((a for a in r.alerts or [] if a["kind"] == live.AT_RISK), None)
                    rows.append(
                        {
                            "run_id": run_id,
                            "rescue": side,
                            "makespan_s": r.makespan_s,
                            "promise_s": r.predicted_makespan_s,
                            "gb_seconds": r.gb_seconds,
                            "lead_s": round(risk["deadline"] - risk["at"], 4) if risk else None,
                            "replanned": any(a["kind"] == rescue.REPLAN for a in r.alerts or []),
                            "alerts": [a["kind"] for a in r.alerts or []],
                        }
                    )
                    r.delete()  # the next slowed run is planned from the same history
    finally:
        client.delete(keys.bench_slowdown())
    return (
        {
            "workflow": name,
            "tasks": tasks,
            "busy_s": busy_s,
            "slowdown": slowdown,
            "sla": sla,
            "memory_mb": smallest,
            "pairs": pairs,
        }
        | figures(rows)
        | {"rows": rows}
    )
