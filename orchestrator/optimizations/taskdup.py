"""TaskDup: a worker waiting for a straggling upstream runs it itself.

Rule: for a planned task, its upstreams on other workers that are *duppable*
— fast (typical exec ≤ ``max_exec_s``), with small inputs (≤
``max_input_bytes``) and outputs of at least ``min_output_bytes`` and no
smaller than their inputs — with the typical times the decision needs.

Runtime (the prior system's rule): a branch waiting for such a task's last
inputs evaluates, every time it wakes (each completion it is handed, or every
``poll_s``), for each unfinished candidate ``u``::

    expected_ready  = start(u) + exec(u) + upload(u) + download(u → here)
    potential_ready = now + download(u's inputs → here) + exec(u, here)

(``start(u)`` is when ``u`` really began, or now if it has not; a ``u`` running
past its typical ``exec(u)`` is expected to run as long again as it has so
far — see ``decide``), and runs the
candidate with the largest saving when ``potential_ready + threshold_s <
expected_ready`` and its inputs are in Redis — and only while the run's other running tasks leave a core
of the cluster free (``cores_taken``: else a duplicate takes CPU from the original it races). A Redis lock (``SET NX PX``,
released only by its holder) lets one worker at a time duplicate one task;
a branch runs one duplicate at a time. Whichever copy finishes first wins:
readiness is exactly-once (the finish script counts an input once), the
loser's result is ignored, and when the duplicate wins every process hears
it (``store.flags``) and the original stops — before execution, during it
(interrupted), or before its upload. Each duplicate is recorded with its
predicted saving and, once the run ends, its actual one.
"""
from __future__ import annotations

import json
import logging
import time

from orchestrator.planning.predictor import SLA, PredictionError
from orchestrator.core.states import TaskStatus
from store import dataplane, flags, keys
from workers.hooks import Hook, SkipTask
from store.redis_client import get_redis, script as redis_script

NAME = "taskdup"
LABEL = "TaskDup"
DEFAULTS = {"threshold_s": 0.15, "max_exec_s": 1.0, "max_input_bytes": 1 << 20, "min_output_bytes": 256 << 10,
            "poll_s": 0.1}
log = logging.getLogger("slaflow.taskdup")
TYPICAL = SLA(50)

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


def _candidates(plan, graph, predictor, nid: str, params: dict) -> dict[str, dict]:
    """``nid``'s duppable upstreams on other workers, with the typical (median) times the decision needs:
    a straggler is judged against what the task usually takes, not against a tail quantile."""
    tp = plan.tasks[nid]
    if tp.worker is None or predictor is None:
        return {}
    out = {}
    here = tp.memory_mb
    for u in graph[nid].upstream:
        up = plan.tasks[u]
        if up.worker is None or up.worker == tp.worker:
            continue
        if (up.input_bytes or 0) > float(params.get("max_input_bytes", DEFAULTS["max_input_bytes"])):
            continue
        if (up.output_bytes or 0) < max(float(params.get("min_output_bytes", DEFAULTS["min_output_bytes"])),
                                        up.input_bytes or 0):
            continue  # duplicating saves the output's transfer: worth it only for a big one
        try:
            fn = graph[u].function
            exec_s = predictor.exec_time(fn, up.memory_mb, up.input_bytes or 0, TYPICAL)
            if exec_s > float(params.get("max_exec_s", DEFAULTS["max_exec_s"])):
                continue
            local_inputs = sum(predictor.transfer_time("download", plan.tasks[x].output_bytes or 0, here, TYPICAL)
                               for x in graph[u].upstream)
            out[u] = {
                "exec_s": round(exec_s, 6),
                "upload_s": round(predictor.transfer_time("upload", up.output_bytes or 0, up.memory_mb, TYPICAL), 6),
                "download_s": round(predictor.transfer_time("download", up.output_bytes or 0, here, TYPICAL), 6),
                "exec_local_s": round(predictor.exec_time(fn, here, up.input_bytes or 0, TYPICAL), 6),
                "download_local_s": round(local_inputs, 6),
            }
        except PredictionError:
            continue
    return out


def annotate(plan, graph, predictor, params: dict) -> dict[str, dict]:
    out = {}
    for nid in plan.tasks:
        found = _candidates(plan, graph, predictor, nid, params)
        if found:
            out[nid] = {"candidates": found, "threshold_s": float(params.get("threshold_s", DEFAULTS["threshold_s"]))}
    return out


def forced(nid: str, plan, graph, predictor, params: dict) -> dict | None:
    """Forced on a task: it may be duplicated by the consumers waiting for it."""
    out = None
    for c in (c for c, node in graph.items() if nid in node.upstream):
        found = _candidates(plan, graph, predictor, c, dict(params, max_exec_s=float("inf"),
                                                            max_input_bytes=float("inf")))
        if nid in found:
            out = out or {}
            out.setdefault("for", []).append(c)
    return out


def decide(now: float, starts: dict[str, float | None], done: set[str], candidates: dict[str, dict],
           threshold_s: float) -> tuple[str, float, float] | None:
    """(task, predicted saving, expected ready) of the candidate to duplicate now, or None (pure).

    A candidate that has not begun is expected to begin now; one running past its typical time is
    expected to run as long again as it has so far (durations are heavy-tailed: the longer a
    straggler has run, the longer it will likely still run) — the notes' rule, which kept the
    typical time, could never duplicate a task once it was late."""
    best = None
    for u, c in sorted(candidates.items()):
        if u in done:
            continue
        start = starts.get(u)
        start = now if start is None else min(start, now)
        elapsed = now - start
        runs_for = c["exec_s"] if elapsed <= c["exec_s"] else 2 * elapsed
        expected = start + runs_for + c["upload_s"] + c["download_s"]
        potential = now + c["download_local_s"] + c["exec_local_s"]
        if potential + threshold_s < expected and (best is None or expected - potential > best[1]):
            best = (u, expected - potential, expected)
    return best


def cores_taken(running: int, cores: float) -> bool:
    """Whether a run's ``running`` tasks (begun; a branch waiting for a task's inputs has not begun it)
    already take the cluster's ``cores``: a duplicate then only takes CPU from the original it races
    (measured on the WfCommons family: with every core busy every duplicate lost, the runs were slower)."""
    return running >= cores


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
            branch.duplicates[u] = {"predicted_saving_s": round(saving, 4), "expected_ready": expected,
                                    "for": child, "at": now}
            return [u]
        return None

    def after_complete(self, branch, task) -> None:
        info = branch.duplicates.get(task.node_id) if task.duplicate else None
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
            task.record.optimizations["duplicated"] = {"by": branch.worker, "for": info["for"],
                                                       "predicted_saving_s": info["predicted_saving_s"]}
        else:
            task.record.optimizations["duplicate_lost"] = True

    def task_failed(self, branch, task, error: str) -> None:
        if task.duplicate and task.node_id in branch.duplicates:
            release_lock(branch.run_id, task.node_id, branch.token)  # the original may still win


def hooks(ctx) -> list[Hook]:
    return [TaskDup(ctx)]
