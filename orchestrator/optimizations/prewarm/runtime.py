"""PreWarm's runtime: a ping that makes a process of the target's configuration ready, and the hand-off.

The rule (``prewarm.rule``) names, per branch predicted to start cold, a
sender task and a moment. When the sender task starts, a timer sends a
pre-warm ping — an ordinary Celery message (``workers.tasks.prewarm``) to the
target configuration's queue — at the planned moment; the pool process that
takes it loads the workflow's code, the run's plan and connections, and stays
warm for the keep-alive window. Every ping is recorded (``keys.prewarms``);
the run's summary says whether the target's start-up was warm (a hit) and
the gap between ping and start.

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
from orchestrator.optimizations.prewarm.rule import NAME
from store import flags, keys
from store.redis_client import get_redis, script as redis_script
from workers import transport
from workers.hooks import Hook

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


def offer(run_id: int, target: str, branch: dict) -> bool:
    """Hand ``branch`` (token, entries, worker, memory_mb, dispatched_at) to the pre-warmed process
    waiting for ``target``; False when none waits."""
    return bool(
        redis_script("prewarm_offer", _OFFER)(
            keys=[keys.handoff_wait(run_id, target), keys.handoff(run_id, target), keys.registry(run_id)],
            args=[json.dumps(branch), 3600],
        )
    )


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
        if not offer(
            self.ctx.run_id,
            target,
            {
                "token": token,
                "entries": list(entries),
                "worker": worker,
                "memory_mb": int(memory_mb),
                "dispatched_at": time.time(),
            },
        ):
            return None
        task.record.optimizations.setdefault("prewarm_handed_off", []).append(target)
        return HANDOFF_FALLBACK_S

    def before_execute(self, branch, task) -> None:
        for target, spec in self.sends.get(task.node_id, ()):
            delay = max(0.0, self.ctx.started_at + float(spec["send_at_s"]) - time.time())
            timer = threading.Timer(
                delay, send_ping, args=(self.ctx.run_id, self.ctx.structure_hash, target, spec, task.node_id)
            )
            timer.daemon = True
            timer.start()
            task.record.optimizations.setdefault("prewarm_sent", []).append(target)


def ping_signature(run_id: int, structure_hash: str, memory_mb: int, target: str):
    """The ping: an ordinary message to the target configuration's queue."""
    return signature(
        router.PREWARM_TASK, args=(structure_hash, run_id), kwargs={"target": target}, **router.route_for(memory_mb)
    )


def send_ping(run_id: int, structure_hash: str, target: str, spec: dict, sender: str) -> None:
    try:
        transport.send([ping_signature(run_id, structure_hash, int(spec["memory_mb"]), target)])
        pipe = get_redis().pipeline(transaction=False)
        pipe.hset(
            keys.prewarms(run_id),
            target,
            json.dumps(
                {
                    "sent_at": time.time(),
                    "memory_mb": int(spec["memory_mb"]),
                    "worker": spec.get("worker"),
                    "sender": sender,
                }
            ),
        )
        pipe.expire(keys.prewarms(run_id), 24 * 3600)
        pipe.execute()
    except Exception:  # a ping that cannot be sent only costs the warm start it was for
        log.exception("run %s: could not send the pre-warm ping for %s", run_id, target)


def hooks(ctx) -> list[Hook]:
    return [PrewarmSender(ctx)]
