"""TaskDup's runtime: a worker waiting for a straggling upstream runs it itself.

The rule (``taskdup.rule``) lists, per planned task, the upstreams that may
be duplicated and their typical times. A branch waiting for such a task's
last inputs asks ``rule.decide`` every time it wakes (each completion it is
handed, or every ``poll_s``) and runs the chosen candidate when its inputs
are in Redis. A Redis lock (``SET NX PX``, released only by its holder) lets
one worker at a time duplicate one task; a branch runs one duplicate at a
time. Whichever copy finishes first wins: readiness is exactly-once (the
finish script counts an input once), the loser's result is ignored, and when
the duplicate wins every process hears it (``store.flags``) and the original
stops — before execution, during it (interrupted), or before its upload.
Each duplicate is recorded with its predicted saving and, once the run ends,
its actual one.
"""

from __future__ import annotations

import json
import logging
import time

from orchestrator.core.states import TaskStatus
from orchestrator.optimizations.taskdup.rule import DEFAULTS, NAME, cores_taken, decide
from store import dataplane, flags, keys
from store.redis_client import get_redis, script as redis_script
from workers.hooks import Hook, SkipTask

log = logging.getLogger("slaflow.taskdup")

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# The dup locks this process holds, (run id, task, branch token): released when the duplicate ends,
# fails, or the process shuts down (``workers.signals``), so a lock outlives its holder only if the
# process is killed outright (then its PX expiry frees it).
_HELD: set[tuple[int, str, str]] = set()


def acquire_lock(run_id: int, node_id: str, token: str, ttl_ms: int) -> bool:
    """The dup lock of one task: ``SET NX PX`` with this branch's token as the value."""
    got = bool(get_redis().set(keys.dup_lock(run_id, node_id), token, nx=True, px=ttl_ms))
    if got:
        _HELD.add((run_id, node_id, token))
    return got


def release_lock(run_id: int, node_id: str, token: str) -> bool:
    """Released only by its holder (the token must match): a lock that expired and was taken by
    another worker is not someone else's to free."""
    _HELD.discard((run_id, node_id, token))
    return bool(redis_script("dup_release", _RELEASE)(keys=[keys.dup_lock(run_id, node_id)], args=[token]))


def release_held() -> int:
    """Every lock this process still holds (at process shutdown); how many were freed."""
    freed = 0
    for run_id, node_id, token in list(_HELD):
        try:
            freed += release_lock(run_id, node_id, token)
        except Exception:  # shutting down: the PX expiry frees what cannot be freed now
            log.exception("run %s: releasing the dup lock of %s", run_id, node_id)
    return freed


def _cores_taken(run_id: int) -> bool:
    from store import pools

    running = sum(1 for state in get_redis().hvals(keys.states(run_id)) if state.decode() == TaskStatus.RUNNING)
    return cores_taken(running, pools.read_capacity().cores or pools.host_cores())


class TaskDup(Hook):
    """Both halves: duplicating a straggler while waiting, and stopping an original that lost."""

    name = "taskdup"

    def __init__(self, ctx):
        self.ctx = ctx
        self.tried: set[str] = set()
        self.duplicates: dict[str, dict] = {}  # tasks of other workers this branch runs as duplicates
        self.poll_s = DEFAULTS["poll_s"]
        self.last = 0.0

    # --- the original: stop when a duplicate won ---------------------------------------
    def _lost(self, branch, task) -> None:
        if not task.duplicate and flags.announced_duplicated(branch.run_id, task.node_id):
            raise SkipTask(f"task {task.node_id!r} was finished by a duplicate")

    before_inputs = before_execute = before_upload = _lost

    # --- the waiting worker: duplicate a straggler -----------------------------------------
    def while_waiting(self, branch):
        now = time.time()
        if now - self.last < self.poll_s:
            return None
        self.last = now
        for child in list(branch.awaiting):
            spec = self.ctx.annotations_of(child).get(NAME)
            if not spec:
                continue
            cands = {u: c for u, c in spec["candidates"].items() if u not in self.tried}
            if not cands:
                continue
            if _cores_taken(branch.run_id):
                return None  # every core is busy: a duplicate would only slow the original (asked again next poll)
            names = sorted(cands)
            client = get_redis()
            pipe = client.pipeline(transaction=False)
            pipe.smismember(keys.done(branch.run_id), names)
            pipe.hmget(keys.starts(branch.run_id), names)
            done_flags, started = pipe.execute()
            done = {u for u, d in zip(names, done_flags) if d}
            starts = {u: float(s) for u, s in zip(names, started) if s is not None}
            choice = decide(now, starts, done, cands, float(spec.get("threshold_s", DEFAULTS["threshold_s"])))
            if choice is None:
                continue
            u, saving, expected = choice
            self.tried.add(u)
            ups = list(self.ctx.graph[u].upstream)
            if ups and not dataplane.has_outputs(branch.run_id, ups):
                continue  # its inputs are in their workers' memory only: nothing to start from here
            # The lock outlives a normal duplicate by far, and a dead holder's by little (it is not renewed).
            got = acquire_lock(branch.run_id, u, branch.token, int((cands[u]["exec_local_s"] * 4 + 10) * 1000))
            pipe = client.pipeline(transaction=False)
            pipe.hincrby(keys.dup_attempts(branch.run_id), u if got else f"{u}:refused", 1)
            pipe.expire(keys.dup_attempts(branch.run_id), 24 * 3600)
            pipe.execute()
            if not got:
                continue  # another worker duplicates it
            self.duplicates[u] = {
                "predicted_saving_s": round(saving, 4),
                "expected_ready": expected,
                "for": child,
                "at": now,
            }
            return [u]  # the runtime runs it here as a duplicate (``task.duplicate``)
        return None

    def after_complete(self, branch, task) -> None:
        info = self.duplicates.get(task.node_id) if task.duplicate else None
        if info is None:
            return
        won = bool(task.finished and task.finished.first)
        release_lock(branch.run_id, task.node_id, branch.token)
        info.update(won=won, done_at=time.time(), by=branch.token)
        pipe = get_redis().pipeline(transaction=False)
        pipe.hset(keys.dups(branch.run_id), task.node_id, json.dumps(info))
        pipe.expire(keys.dups(branch.run_id), 24 * 3600)
        pipe.execute()
        if won:
            dataplane.announce_duplicate_done(branch.run_id, task.node_id)
            task.record.optimizations["duplicated"] = {
                "by": branch.worker,
                "for": info["for"],
                "predicted_saving_s": info["predicted_saving_s"],
            }
        else:
            task.record.optimizations["duplicate_lost"] = True

    def task_failed(self, branch, task, error: str) -> None:
        if task.duplicate and task.node_id in self.duplicates:
            release_lock(branch.run_id, task.node_id, branch.token)  # the original may still win


def hooks(ctx) -> list[Hook]:
    return [TaskDup(ctx)]
