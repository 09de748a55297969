"""Live tracking of running runs against their promise, and the alerts when they will miss or did.

Who computes it: the reaper thread every worker's main process already runs
once a second (``workers.reaper``) calls ``sweep``, so the branch runtime
does nothing more per task — a finished task is already in the run's
``done`` set, which is all the prediction needs. For each run being watched
(``keys.watched``: put there at dispatch when its plan made a promise, taken
away when it ends) a sweep reads the finished tasks, predicts the run's end
(``planning.live``: the rest of the plan at the pace seen so far), stores the
prediction (``keys.live_prediction``; ``GET /api/runs/{id}/`` → ``live``, the
run page, ``slaflow run``) and fires

* ``sla_at_risk`` when the prediction exceeds the promise (by more than
  ``SLAFLOW_LIVE_MARGIN``) before the promise's deadline;
* ``sla_missed`` once the deadline passed with the run unfinished, or when it
  finishes later than promised (``finished``, from the run's finalization).

Each kind fires once per run, whichever process sees it first (an atomic
``SET NX`` on ``keys.alert_fired``): the alert is appended to the run's
``alerts``, the Django signal (``orchestrator.core.signals``) is sent in that
process, and the webhook — the run's ``webhook_url``, else its workflow's —
gets a POST from a delivery thread (``services.webhooks``).

A run with rescue on (``SLAFLOW_RESCUE``, or the run's ``rescue``) found at
risk re-plans its tasks not started yet (``rescue_run``, ``planning.rescue``),
recorded as a ``replan`` event after the alert.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from orchestrator.core import signals
from orchestrator.models import WorkflowRun
from orchestrator.planning import live, rescue
from orchestrator.services import webhooks
from store import keys
from store.redis_client import get_redis

log = logging.getLogger("slaflow.alerts")
FIRED_TTL_S = 7 * 24 * 3600
_ENDS_KEPT = 32
_ends: dict[int, tuple[dict[str, float], float]] = {}  # run → (planned ends, typical): parsed once per process


def watch(run_id: int, *, started_at: float, plan, rescue: bool = False) -> bool:
    """Track ``run_id`` while it runs, if its plan made a promise with planned task ends; ``rescue``: when
    it is found at risk, re-plan its tasks not started yet (``rescue_run``)."""
    promise, typical = plan.predicted_makespan_s, plan.predicted_median_s or plan.predicted_makespan_s
    if not promise or not typical or not any(tp.end_s is not None for tp in plan.tasks.values()):
        return False
    get_redis().hset(
        keys.watched(),
        str(run_id),
        json.dumps(
            {
                "started_at": started_at,
                "promise_s": float(promise),
                "typical_s": float(typical),
                "sla": plan.sla,
                "rescue": bool(rescue),
            }
        ),
    )
    return True


def _planned(run_id: int, typical_s: float) -> dict[str, float] | None:
    got = _ends.get(run_id)
    if got is None:
        raw = get_redis().get(keys.meta(run_id))
        if raw is None:
            return None
        got = _ends[run_id] = (live.planned_ends(json.loads(raw)["plan"], typical_s), typical_s)
        while len(_ends) > _ENDS_KEPT:
            del _ends[next(iter(_ends))]
    return got[0]


def sweep(now: float | None = None) -> dict[int, live.Prediction]:
    """One pass over the watched runs: predict, store, fire. Returns the predictions made."""
    client = get_redis()
    now = time.time() if now is None else now
    out = {}
    for raw_id, raw in client.hgetall(keys.watched()).items():
        try:
            p = _track(client, int(raw_id), json.loads(raw), now)
        except Exception:  # one run's bad data must not stop the others' tracking
            log.exception("live tracking of run %s failed", raw_id.decode())
            continue
        if p is not None:
            out[int(raw_id)] = p
    return out


def _track(client, run_id: int, entry: dict, now: float) -> live.Prediction | None:
    """Predict one watched run, store the prediction, fire what it calls for; None when the run is gone."""
    ends = _planned(run_id, entry["typical_s"])
    if ends is None:  # its data is gone: it ended
        client.hdel(keys.watched(), str(run_id))
        return None
    done = [m.decode() for m in client.smembers(keys.done(run_id))]
    p = live.predict(
        ends,
        typical_s=entry["typical_s"],
        done=done,
        elapsed_s=now - entry["started_at"],
        min_progress=float(settings.SLAFLOW_LIVE_MIN_PROGRESS),
    )
    pipe = client.pipeline(transaction=False)
    pipe.hset(
        keys.live_prediction(run_id),
        mapping={
            "predicted_makespan_s": round(p.predicted_makespan_s, 3),
            "predicted_end_s": round(entry["started_at"] + p.predicted_makespan_s, 3),
            "will_miss": int(p.predicted_makespan_s > entry["promise_s"]),
            "updated_at": round(now, 3),
            "pace": round(p.pace, 3),
            "next_s": round(p.next_s, 3),
        },
    )
    pipe.expire(keys.live_prediction(run_id), int(settings.SLAFLOW_RUN_TTL_S))
    pipe.execute()
    kind = live.verdict(p, promise_s=entry["promise_s"], margin=float(settings.SLAFLOW_LIVE_MARGIN))
    if kind is not None:
        fired = fire(
            run_id,
            kind,
            elapsed_s=p.elapsed_s,
            predicted_makespan_s=p.predicted_makespan_s,
            promise_s=entry["promise_s"],
            started_at=entry["started_at"],
            now=now,
        )
        if fired and kind == live.AT_RISK and entry.get("rescue"):
            rescue_run(run_id, p, now=now)
    return p


def rescue_run(run_id: int, p: live.Prediction, *, now: float) -> rescue.Replan | None:
    """Re-plan the run's tasks not started yet onto the largest configuration, flexible
    (``planning.rescue``): the branches read ``keys.rescued`` before each task. Recorded as a ``replan``
    event in the run's ``alerts`` (REST, the run page). None when the run's data is gone."""
    client = get_redis()
    raw = client.get(keys.meta(run_id))
    if raw is None:
        return None
    started = {m.decode() for m in client.smembers(keys.done(run_id))} | {
        m.decode() for m in client.hkeys(keys.taken(run_id))
    }
    r = rescue.replan(
        json.loads(raw)["plan"], started=started, memory_options=settings.SLAFLOW_RESOURCE_CONFIGS, pace=p.pace
    )
    if r.moved:
        pipe = client.pipeline(transaction=False)
        pipe.hset(keys.rescued(run_id), mapping={nid: r.to_mb for nid in r.moved})
        pipe.expire(keys.rescued(run_id), int(settings.SLAFLOW_RUN_TTL_S))
        pipe.execute()
    event = dict(
        r.to_event(),
        elapsed_s=round(p.elapsed_s, 3),
        at=round(now, 3),
        predicted_makespan_s=round(p.predicted_makespan_s, 3),
    )
    with transaction.atomic():
        row = WorkflowRun.objects.select_for_update().only("alerts").get(pk=run_id)
        WorkflowRun.objects.filter(pk=run_id).update(alerts=list(row.alerts or []) + [event])
    log.warning("run %s: rescue — %s (predicted extra %.2f GB-s)", run_id, r.reason, r.extra_gb_s)
    return r


def finished(run_id: int, *, makespan_s: float | None, promise_s: float | None, started_at: float | None) -> None:
    """The run ended: stop watching it; a late finish fires ``sla_missed`` (unless it already fired)."""
    get_redis().hdel(keys.watched(), str(run_id))
    _ends.pop(run_id, None)
    if makespan_s is not None and promise_s and started_at is not None and makespan_s > promise_s:
        fire(
            run_id,
            live.MISSED,
            elapsed_s=makespan_s,
            predicted_makespan_s=makespan_s,
            promise_s=promise_s,
            started_at=started_at,
            now=started_at + makespan_s,
        )


def fire(
    run_id: int,
    kind: str,
    *,
    elapsed_s: float,
    predicted_makespan_s: float,
    promise_s: float,
    started_at: float,
    now: float,
) -> bool:
    """Fire ``kind`` for the run unless some process already did; True when this call fired it."""
    if not get_redis().set(keys.alert_fired(run_id, kind), str(now), nx=True, ex=FIRED_TTL_S):
        return False
    run = (
        WorkflowRun.objects.select_related("workflow")
        .only("planner", "sla", "webhook_url", "workflow__name", "workflow__webhook_url")
        .get(pk=run_id)
    )
    payload = {
        "run": run_id,
        "workflow": run.workflow.name,
        "planner": run.planner,
        "sla": run.sla,
        "kind": kind,
        "promise_s": round(promise_s, 3),
        "predicted_makespan_s": round(predicted_makespan_s, 3),
        "predicted_end": round(started_at + predicted_makespan_s, 3),
        "deadline": round(started_at + promise_s, 3),
        "elapsed_s": round(elapsed_s, 3),
        "at": round(now, 3),
    }
    url = run.webhook_url or run.workflow.webhook_url
    entry = dict(payload, webhook_url=url, delivery=None if url else "no webhook")
    with transaction.atomic():
        row = WorkflowRun.objects.select_for_update().only("alerts").get(pk=run_id)
        index = len(row.alerts or [])
        WorkflowRun.objects.filter(pk=run_id).update(alerts=list(row.alerts or []) + [entry])
    log.warning(
        "run %s: %s (promise %.2f s, predicted %.2f s, %.2f s in)",
        run_id,
        kind,
        promise_s,
        predicted_makespan_s,
        elapsed_s,
    )
    signal = signals.sla_at_risk if kind == live.AT_RISK else signals.sla_missed
    signal.send_robust(sender=WorkflowRun, run_id=run_id, alert=payload)
    if url:
        webhooks.deliver(url, payload, lambda outcome: _delivered(run_id, index, outcome))
    return True


def _delivered(run_id: int, index: int, outcome: dict) -> None:
    with transaction.atomic():
        row = WorkflowRun.objects.select_for_update().only("alerts").get(pk=run_id)
        alerts = list(row.alerts or [])
        if index < len(alerts):
            alerts[index] = dict(alerts[index], delivery=outcome)
            WorkflowRun.objects.filter(pk=run_id).update(alerts=alerts)


def live_of(run) -> dict | None:
    """The run's live prediction for REST and the UI: Redis's while it runs, the outcome once it ended.
    None before the first one, and while Redis cannot be reached (restarting): a page, a REST read or a
    client waiting on the run keeps going without it (``run_workflow --json`` crashed on a Redis restart)."""
    promise = run.predicted_makespan_s
    if run.makespan_s is not None:
        return {
            "predicted_makespan_s": run.makespan_s,
            "predicted_end_s": None,
            "will_miss": bool(promise and run.makespan_s > promise),
            "updated_at": None,
            "final": True,
            "alerts": [a.get("kind") for a in run.alerts or []],
        }
    try:
        raw = get_redis().hgetall(keys.live_prediction(run.pk))
    except RedisError:
        return None
    if not raw:
        return None
    got = {k.decode(): float(v) for k, v in raw.items()}
    return {
        "predicted_makespan_s": got["predicted_makespan_s"],
        "predicted_end_s": got["predicted_end_s"],
        "will_miss": bool(got["will_miss"]),
        "updated_at": got["updated_at"],
        "final": False,
        "pace": got.get("pace"),
        "alerts": [a.get("kind") for a in run.alerts or []],
    }
