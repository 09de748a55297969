"""``bench load`` and ``bench failures``: many concurrent runs, and what failures cost.

* ``load`` — ``runs`` runs of ``tasks`` tasks each (a fan-out of ``tasks - 2``
  additions into one sum), submitted from ``clients`` threads at once: every
  run's submission latency, whether all succeeded, the total time.
* ``failures`` — on a local cluster of this machine (started by the bench or
  standing): ``kill -9`` of the 2048 MB worker's process group in the middle of
  a run of 12 × 4 s tasks (time from the kill to the run's end, and its
  makespan against the same run undisturbed); a hung task with
  ``timeout_s=2`` (time to a failed run); cancelling a run with 6 hung tasks
  (time until a new run is done).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time

from experiments.bench import tasks as t, workloads
from orchestrator.core.authoring import build_graph
from orchestrator.handles import RunFailed, RunHandle
from orchestrator.models import WorkflowRun
from orchestrator.services.runs import cancel_run, submit_run
from store.redis_client import get_redis


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load(*, runs: int, tasks: int, clients: int, timeout_s: float = 600.0, progress=lambda msg: None) -> dict:
    """``runs`` submissions from ``clients`` client processes at once (each a client of its own, as
    separate users' programs are), then every run waited for (``progress``: called per submission
    and per run done)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from experiments.bench import load_client

    with ProcessPoolExecutor(
        max_workers=clients,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=load_client.init,
        initargs=(os.environ["DJANGO_SETTINGS_MODULE"],),
    ) as pool:
        list(pool.map(load_client.ready, range(clients)))  # every client up before the clock starts
        t0 = time.perf_counter()
        done = []
        for k, got in enumerate(pool.map(load_client.submit, [tasks] * runs), 1):
            done.append(got)
            progress(f"submitted {k}/{runs}")
    ids, latencies = [d[0] for d in done], [d[1] for d in done]
    for k, run_id in enumerate(ids, 1):
        progress(f"waiting for run {k}/{runs}")
        RunHandle(run_id).wait(timeout_s)
    total = time.perf_counter() - t0
    statuses = list(WorkflowRun.objects.filter(pk__in=ids).values_list("status", flat=True))
    return {
        "scenario": "load",
        "runs": runs,
        "tasks_per_run": len(workloads.fanout_of(tasks)),
        "clients": clients,
        "succeeded": statuses.count("succeeded"),
        "total_s": round(total, 3),
        "submit_median_s": round(statistics.median(latencies), 4),
        "submit_p95_s": round(_quantile(latencies, 0.95), 4),
        "submit_max_s": round(max(latencies), 4),
    }


def _count(tag: str) -> int:
    return int(get_redis().get(f"sf:bench:count:{tag}") or 0)


def _worker_group(memory_mb: int) -> int:
    out = subprocess.check_output(["pgrep", "-f", f"celery -A orchestrator worker -Q rc-{memory_mb} "], text=True)
    return os.getpgid(int(out.split()[0]))


def _twelve(tag: str):
    return build_graph(t.total([t.slow_add(i, 1, 4.0, f"{tag}-{i}") for i in range(12)]))


def kill_worker(timeout_s: float = 300.0) -> dict:
    """The same run undisturbed, then with the 2048 MB worker's process group killed mid-run."""
    quiet = submit_run(graph=_twelve(f"quiet-{time.time_ns()}"), name="kill-12x4s", planner="wukong", sla="p90")
    RunHandle(quiet.pk).result(timeout=timeout_s)
    tag = f"kill-{time.time_ns()}"
    run = submit_run(graph=_twelve(tag), name="kill-12x4s", planner="wukong", sla="p90")
    while sum(_count(f"{tag}-{i}") for i in range(12)) < 4:
        time.sleep(0.05)
    time.sleep(1.0)
    os.killpg(_worker_group(2048), signal.SIGKILL)
    killed = time.perf_counter()
    value = RunHandle(run.pk).result(timeout=timeout_s)
    done = time.perf_counter() - killed
    before, after = (WorkflowRun.objects.get(pk=pk).makespan_s for pk in (quiet.pk, run.pk))
    return {
        "scenario": "kill -9 of a worker mid-run (12 x 4 s tasks)",
        "kill_to_done_s": round(done, 3),
        "makespan_s": round(after, 3),
        "undisturbed_makespan_s": round(before, 3),
        "beyond_undisturbed_s": round(after - before, 3),
        "result_ok": value == sum(range(1, 13)),
        "executions": sum(_count(f"{tag}-{i}") for i in range(12)),
    }


def hung_timeout(timeout_s: float = 2.0) -> dict:
    t0 = time.perf_counter()
    run = submit_run(
        graph=build_graph(t.hang.with_options(timeout_s=timeout_s)(1)), name="hung", planner="wukong", sla="p90"
    )
    try:
        RunHandle(run.pk).result(timeout=120)
        error = "no failure"
    except RunFailed as exc:
        error = exc.error
    return {
        "scenario": f"hung task with timeout_s={timeout_s:g}",
        "to_failed_run_s": round(time.perf_counter() - t0, 3),
        "error": error,
    }


def cancel_hung(n: int = 6) -> dict:
    tag = f"hung-{time.time_ns()}"
    run = submit_run(
        graph=build_graph(t.total([t.hang(i, tag=tag) for i in range(n)])), name="hung-6", planner="wukong", sla="p90"
    )
    while _count(tag) < n:
        time.sleep(0.05)
    t0 = time.perf_counter()
    cancel_run(run.pk)
    nxt = submit_run(graph=build_graph(t.inc(1)), name="after-cancel", planner="wukong", sla="p90")
    RunHandle(nxt.pk).result(timeout=120)
    return {
        "scenario": f"cancel of a run with {n} hung tasks",
        "to_next_run_done_s": round(time.perf_counter() - t0, 3),
    }


def failures(progress=lambda msg: None) -> list[dict]:
    out = []
    for label, scenario in (
        ("a hung task's time limit", hung_timeout),
        ("cancelling hung tasks", cancel_hung),
        ("kill -9 of a worker mid-run", kill_worker),
    ):
        progress(label)
        out.append(scenario())
    return out
