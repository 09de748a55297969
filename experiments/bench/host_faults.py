"""``bench host-faults``: a whole host killed mid-run, and a host partitioned then healed, on simulated hosts.

On ``hosts`` simulated hosts (``localcluster.hosts``, started by the bench), per repeat:

* ``kill`` — a fan-out of ``tasks`` × ``seconds`` (each output ``mb`` MB, so it lives in its host's shared
  memory) into a digest, first undisturbed, then with a host killed (every process SIGKILLed, its link
  down) once it holds a finished output and runs a task: the time from the kill to the run's end, the
  makespan beyond the undisturbed one, the tasks run again (taken over from the dead host's branches,
  and outputs recomputed from their inputs), whether the result is the undisturbed one and how many times
  the sink ran. The host is revived for the next repeat (not timed).
* ``partition`` — a chain: an ``8 s`` task, then two quick ones; the host running the slow one is cut off
  (link, Redis, Postgres) until the other host has finished the run, then healed: the result, whether
  the downstream tasks ran once, and the writes of the cut-off branch refused by its stale lease token
  (the duplicates prevented).
"""

from __future__ import annotations

import time

from experiments.bench import tasks as t
from localcluster.hosts import Hosts, busy_host_with_outputs, running_on
from orchestrator.core.authoring import build_graph
from orchestrator.handles import RunHandle
from orchestrator.models import WorkflowRun
from orchestrator.services.runs import submit_run
from store import fencing
from store.redis_client import get_redis


def _count(tag: str) -> int:
    return int(get_redis().get(f"sf:bench:count:{tag}") or 0)


def _until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def _fan(tag: str, tasks: int, seconds: float, mb: float):
    return build_graph(t.digest_all([t.slow_blob(i, mb, seconds) for i in range(tasks)], tag=tag))


def _submit(graph, name: str):
    return submit_run(graph=graph, name=name, planner="wukong", sla="p90")


def killed_host(
    harness: Hosts, *, tasks: int = 12, seconds: float = 4.0, mb: float = 1.0, timeout_s: float = 300.0
) -> dict:
    name = f"host-kill-{tasks}x{seconds:g}s"
    quiet_tag, tag = f"quiet-{time.time_ns()}", f"kill-{time.time_ns()}"
    quiet = _submit(_fan(quiet_tag, tasks, seconds, mb), name)
    expected = RunHandle(quiet.pk).result(timeout=timeout_s)
    run = _submit(_fan(tag, tasks, seconds, mb), name)
    victim = _until(lambda: busy_host_with_outputs(harness.hosts, run.pk), timeout_s, "a busy host holding outputs")
    running_there = sum(1 for h in running_on(run.pk).values() if h == victim.hostname)
    victim.kill()
    killed = time.perf_counter()
    value = RunHandle(run.pk).result(timeout=timeout_s)
    done = time.perf_counter() - killed
    before, after = (WorkflowRun.objects.get(pk=pk).makespan_s for pk in (quiet.pk, run.pk))
    seen = fencing.counts(run.pk)
    harness.revive(victim)
    return {
        "scenario": f"host killed mid-run ({tasks} x {seconds:g} s fan-out, {len(harness.hosts)} hosts)",
        "kill_to_done_s": round(done, 3),
        "makespan_s": round(after, 3),
        "undisturbed_makespan_s": round(before, 3),
        "beyond_undisturbed_s": round(after - before, 3),
        "taken_over": running_there,
        "recomputed": seen["recomputed"],
        "rerun": running_there + seen["recomputed"],
        "result_ok": value == expected,
        "sink_runs": _count(tag),
    }


def partitioned_host(harness: Hosts, *, seconds: float = 8.0, timeout_s: float = 300.0) -> dict:
    tag = f"partition-{time.time_ns()}"
    graph = build_graph(
        t.slow_add(t.slow_add(t.slow_add(0, 1, seconds, f"{tag}-slow"), 1, 0.0, f"{tag}-mid"), 1, 0.0, f"{tag}-sink")
    )
    run = _submit(graph, "host-partition")
    names = {h.hostname: h for h in harness.hosts}
    victim = _until(
        lambda: next((names.get(h) for n, h in running_on(run.pk).items() if n.startswith("slow_add")), None),
        timeout_s,
        "the slow task running",
    )
    _until(lambda: _count(f"{tag}-slow"), timeout_s, "the slow task's function started")
    victim.partition()
    cut = time.perf_counter()
    try:
        value = RunHandle(run.pk).result(timeout=timeout_s)
        done = time.perf_counter() - cut
    finally:
        victim.heal()
    try:
        _until(lambda: fencing.counts(run.pk)["fenced"], 120, "the cut-off branch's write refused")
    except RuntimeError:
        pass  # reported as 0 refused
    return {
        "scenario": "host partitioned mid-task, healed after the others finished",
        "result_ok": value == 3,
        "cut_to_done_s": round(done, 3),
        "slow_runs": _count(f"{tag}-slow"),
        "downstream_runs": _count(f"{tag}-mid") + _count(f"{tag}-sink"),
        "duplicates_prevented": fencing.counts(run.pk)["fenced"],
    }


def bench(
    *, hosts: int = 3, repeat: int = 1, tasks: int = 12, seconds: float = 4.0, log=print, progress=lambda msg: None
) -> list[dict]:
    rows = []
    with Hosts(hosts) as harness:
        for line in harness.describe():
            log("  " + line)
        for k in range(repeat):
            progress(f"host killed {k + 1}/{repeat}")
            rows.append(killed_host(harness, tasks=tasks, seconds=seconds))
        for k in range(repeat):
            progress(f"host partitioned {k + 1}/{repeat}")
            rows.append(partitioned_host(harness))
    return rows
