"""PreWarm: have a process of a configuration ready for a branch predicted to start cold.

Rule: for a task that begins a branch the plan predicts to start cold (on a
new or idle process), pick a sender — a task of another logical worker running
at the chosen moment — and the moment: within the feasible window
[dispatch − keep-alive + latency, dispatch − latency − the target's start-up],
at ``preference`` (0.75) of the way through it (the prior system's constants:
500 ms request latency, 0.75, a 7 s warm window). Runtime: when the sender
task starts, a timer sends a pre-warm ping — an ordinary Celery message
(``workers.tasks.prewarm``) to the target configuration's queue — at the
planned moment; the pool process that takes it loads the workflow's code,
the run's plan and connections, and stays warm for the keep-alive window.
Every ping is recorded (``keys.prewarms``); the run's summary says whether the
target's start-up was warm (a hit) and the gap between ping and start. The
timing model treats a pinged branch as warm with the measured hit rate
(``planning.effects``).

Hand-off: a prefork pool gives each message to whichever of its idle
processes comes next, so a ping and the branch after it often land on two
different processes (measured: 6 hits in 10 on ``cold_stage``). So the pinged
process, once warm, waits for its branch (``await_branch``, up to the
keep-alive window): whoever dispatches that branch offers it there
(``offer``, atomic with the waiter's giving up) and holds the branch's Celery
message back by ``HANDOFF_FALLBACK_S`` — it still follows, and finds the branch
running or done (the lease), or runs it if the waiting process died.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time

from celery import signature

from orchestrator.core import router
from orchestrator.core import startup

from workers import transport
from store import flags, keys
from workers.hooks import Hook
from store.redis_client import get_redis, script as redis_script

NAME = "prewarm"
LABEL = "PreWarm"
DEFAULTS = {"latency_s": 0.5, "preference": 0.75, "window_s": 7.0}
HANDOFF_FALLBACK_S = 2.0  # the branch's own message, after a hand-off: long past the waiter's pop and lease
log = logging.getLogger("slaflow.prewarm")

_OFFER = """
-- KEYS: waiting flag, hand-off list, run registry   ARGV: the branch (JSON), ttl s
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], KEYS[2])
return 1
"""
_GIVE_UP = """
-- KEYS: waiting flag, hand-off list: no more offers; one that came just now is still taken
redis.call('DEL', KEYS[1])
return redis.call('LPOP', KEYS[2])
"""


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
    others = [(o.start_s, o.node_id) for o in plan.tasks.values()
              if o.worker is not None and o.worker != tp.worker and o.start_s is not None and o.end_s is not None
              and o.start_s <= at <= o.end_s]
    if not others:
        # No task runs at that moment: the latest one that starts inside the window sends at its start.
        others = [(o.start_s, o.node_id) for o in plan.tasks.values()
                  if o.worker is not None and o.worker != tp.worker and o.start_s is not None and lo <= o.start_s <= hi]
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


def offer(run_id: int, target: str, branch: dict) -> bool:
    """Hand ``branch`` (token, entries, worker, memory_mb, dispatched_at) to the pre-warmed process
    waiting for ``target``; False when none waits."""
    return bool(redis_script("prewarm_offer", _OFFER)(
        keys=[keys.handoff_wait(run_id, target), keys.handoff(run_id, target), keys.registry(run_id)],
        args=[json.dumps(branch), 3600]))


def await_branch(run_id: int, target: str, timeout_s: float) -> dict | None:
    """In the pinged process, warm now: wait for the branch starting at ``target`` to be handed here
    (None when it does not come within ``timeout_s``, is done already, or the run is over)."""
    client = get_redis()
    waiting, handed = keys.handoff_wait(run_id, target), keys.handoff(run_id, target)
    pipe = client.pipeline(transaction=False)
    pipe.set(waiting, os.getpid(), px=int((timeout_s + 5) * 1000))
    pipe.sadd(keys.registry(run_id), waiting, handed)
    pipe.execute()
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or flags.announced_over(run_id) or client.sismember(keys.done(run_id), target):
            break
        got = client.blpop([handed], timeout=min(0.5, max(left, 0.01)))
        if got:
            client.delete(waiting)
            return json.loads(got[1])
    raw = redis_script("prewarm_give_up", _GIVE_UP)(keys=[waiting, handed])
    return json.loads(raw) if raw else None


class PrewarmSender(Hook):
    """Sends the pings this worker's tasks are the senders of, at their planned moments, and hands a
    pinged branch to the process its ping warmed when that process waits for it."""

    name = "prewarm"

    def __init__(self, ctx):
        self.ctx = ctx
        self.sends: dict[str, list[tuple[str, dict]]] = {}
        for target, entry in ctx.plan.items():
            spec = (entry.get("a") or {}).get(NAME)
            if spec:
                self.sends.setdefault(spec["sender"], []).append((target, spec))
        self.targets = {target for pings in self.sends.values() for target, _ in pings}

    def hand_off(self, branch, task, token, entries, worker, memory_mb):
        target = next((e for e in entries if e in self.targets), None)
        if target is None:
            return None
        if not offer(self.ctx.run_id, target, {"token": token, "entries": list(entries), "worker": worker,
                                               "memory_mb": int(memory_mb), "dispatched_at": time.time()}):
            return None
        task.record.optimizations.setdefault("prewarm_handed_off", []).append(target)
        return HANDOFF_FALLBACK_S

    def before_execute(self, branch, task) -> None:
        for target, spec in self.sends.get(task.node_id, ()):
            delay = max(0.0, self.ctx.started_at + float(spec["send_at_s"]) - time.time())
            timer = threading.Timer(delay, send_ping, args=(self.ctx.run_id, self.ctx.structure_hash, target, spec,
                                                            task.node_id))
            timer.daemon = True
            timer.start()
            task.record.optimizations.setdefault("prewarm_sent", []).append(target)


def ping_signature(run_id: int, structure_hash: str, memory_mb: int, target: str):
    """The ping: an ordinary message to the target configuration's queue."""
    return signature(router.PREWARM_TASK, args=(structure_hash, run_id), kwargs={"target": target},
                     **router.route_for(memory_mb))


def send_ping(run_id: int, structure_hash: str, target: str, spec: dict, sender: str) -> None:
    try:
        transport.send([ping_signature(run_id, structure_hash, int(spec["memory_mb"]), target)])
        pipe = get_redis().pipeline(transaction=False)
        pipe.hset(keys.prewarms(run_id), target, json.dumps({
            "sent_at": time.time(), "memory_mb": int(spec["memory_mb"]), "worker": spec.get("worker"),
            "sender": sender}))
        pipe.expire(keys.prewarms(run_id), 24 * 3600)
        pipe.execute()
    except Exception:  # a ping that cannot be sent only costs the warm start it was for
        log.exception("run %s: could not send the pre-warm ping for %s", run_id, target)


def hooks(ctx) -> list[Hook]:
    return [PrewarmSender(ctx)]
