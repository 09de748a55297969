"""Core slots (``store.cores``): no more task bodies at once on a host than its cores — planned branches too.

The slot files' own behaviour (a dead holder or waiter gives its place back, best priority first) is
checked with real processes on a directory of the test's own; the runs, on the session's real workers.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from orchestrator import planning
from orchestrator.models import TaskRun
from orchestrator.planning.plan import Plan as PlanData, TaskPlan
from slaflow import submit
from store import cores, pools
from tests import taskfns as t
from tests.integration.test_executor_cap import most_at_once
from tests.waiting import until

pytestmark = [pytest.mark.integration]

HOLDER = """
import os, sys, time
import django
django.setup()
from store import cores
cores.acquire(float(sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def own_slots(settings, tmp_path):
    """A slot directory of the test's own (the session's workers use the default one)."""
    settings.SLAFLOW_SHM_DIR = str(tmp_path)
    settings.SLAFLOW_EXECUTORS_WITHIN_CORES = True
    return tmp_path


def _process(shm_dir, priority: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "SLAFLOW_SHM_DIR": str(shm_dir), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(priority)], env=env, stdout=subprocess.PIPE, text=True)


def _hold_all(n: int) -> list[threading.Event]:
    """Every slot taken, one thread each; set an event to give that one back."""
    stops, taken = [], threading.Barrier(n + 1)

    def hold(stop: threading.Event) -> None:
        cores.acquire()
        taken.wait()
        stop.wait()
        cores.release()

    for _ in range(n):
        stop = threading.Event()
        threading.Thread(target=hold, args=(stop,), daemon=True).start()
        stops.append(stop)
    taken.wait()
    return stops


def test_a_killed_holder_gives_its_core_back_at_once(own_slots):
    proc = _process(own_slots)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert cores.holders() == [proc.pid]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert cores.holders() == []  # the kernel dropped its lock with the process: nothing to expire
    finally:
        proc.kill()


def test_waiters_go_best_first_and_a_dead_waiter_is_passed(own_slots):
    """With every slot held: a dead waiter of the best priority, then live waiters of priorities 1 and 5
    (in that order). Each slot given back goes to the best live waiter."""
    n = cores.slots()
    stops = _hold_all(n)
    dead = _process(own_slots, priority=99.0)
    got: list[float] = []

    def wait(priority: float) -> None:
        cores.acquire(priority)
        got.append(priority)
        cores.release()

    try:
        until(lambda: len([f for f in os.listdir(cores.host_dir()) if f.startswith("w-")]) == 1, what="dead waiter")
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait(timeout=10)
        waiters = [threading.Thread(target=wait, args=(p,)) for p in (1.0, 5.0)]
        mine = f"-{os.getpid():08d}-"
        for k, w in enumerate(waiters, start=1):
            w.start()
            until(lambda k=k: sum(mine in f for f in os.listdir(cores.host_dir())) == k, what="waiting")
        stops[0].set()
        for w in waiters:
            w.join(timeout=30)
        assert got == [5.0, 1.0]
        assert not [f for f in os.listdir(cores.host_dir()) if f.startswith("w-")]  # the dead one's removed too
    finally:
        dead.kill()
        for stop in stops:
            stop.set()


def test_a_body_waiting_for_a_stopped_run_gives_up(own_slots):
    stops = _hold_all(cores.slots())
    try:
        with pytest.raises(cores.Stopped):
            cores.acquire(1.0, stopped=lambda: True)
    finally:
        for stop in stops:
            stop.set()


def wide_join(width: int, seconds: float):
    """``width`` parallel sleeps joined by one task that waits for all of their outputs."""
    src = t.value(1)
    return t.total([t.slow_inc(src, seconds) for k in range(width)])


def one_worker_each(graph, predictor, config):
    """Every sleep on a logical worker of its own (more of them than cores); the source and the join on
    ``J``, whose branch waits for the sleeps' outputs."""
    tasks = {}
    for k, (nid, node) in enumerate(sorted(graph.items())):
        if node.function.endswith(("slow_inc", "slow_once_inc")):
            tasks[nid] = TaskPlan(nid, 2048, worker=f"S{k}", startup="cold", start_s=0.0, end_s=0.4)
        else:
            end = 0.0 if node.function.endswith("value") else 0.5
            tasks[nid] = TaskPlan(nid, 2048, worker="J", startup="cold", start_s=end, end_s=end)
    return PlanData(planner=config.planner, sla=config.sla, tasks=tasks, note="hand-made: one worker per sleep")


def test_a_planned_run_with_more_workers_than_cores_runs_no_more_bodies_at_once(live, monkeypatch):
    """A plan with more parallel logical workers than this host's cores: their bodies queue for cores — the
    joining branch waits for inputs holding none, so the run ends (no deadlock) — and no more of them
    execute at once than the cores. (Before core slots, every logical worker's body ran at once.)"""
    monkeypatch.setitem(planning.PLANNERS, "one-worker-each", one_worker_each)
    n = max(1, int(pools.host_cores()))
    width = n + 2
    run = submit(wide_join(width, 0.4), name="planned-wide", planner="one-worker-each")
    assert run.result(timeout=120) == 2 * width
    rows = list(TaskRun.objects.filter(run_id=run.id).values("node_id", "worker_id", "optimizations"))
    workers = {r["worker_id"] for r in rows if r["node_id"].startswith("slow_inc")}
    assert len(workers) == width > n, rows  # more parallel logical workers than cores: the case at hand
    assert most_at_once(run.id) <= n, rows
    assert any((r["optimizations"] or {}).get("core_wait_s") for r in rows), rows  # bodies did queue


def test_a_killed_worker_process_gives_its_core_back(live, counts, monkeypatch):
    """Bodies of planned branches on every core of the host, one holder's pool process killed: its core is
    free at once (no lease to lapse), its task redelivered, and the run ends. The bodies hold their cores until
    the test opens their gate (60 s at most), after the killed one's core came back."""
    monkeypatch.setitem(planning.PLANNERS, "one-worker-each", one_worker_each)
    n = max(1, int(pools.host_cores()))
    tag = f"corekill-{time.time_ns()}"
    run = submit(
        t.total([t.slow_once_inc(k, 60.0, tag=f"{tag}-{k}", gate=tag) for k in range(n)]),
        name="core-kill",
        planner="one-worker-each",
    )
    held = until(lambda: (h := cores.holders()) and len(h) == n and h, timeout_s=60, what="every core held")
    victim = held[0]
    os.kill(victim, signal.SIGKILL)
    until(lambda: victim not in cores.holders(), timeout_s=10, what="the killed process's core given back")
    t.open_gate(tag)  # the survivors end now; the victim's re-execution does not wait
    assert run.result(timeout=120) == sum(k + 1 for k in range(n))


def consumer_each(graph, predictor, config):
    """Every streaming consumer on a logical worker of its own, the generator and the gather on ``P``."""
    tasks = {}
    for k, (nid, node) in enumerate(sorted(graph.items())):
        worker = f"C{k}" if node.function.endswith("running_sum") else "P"
        tasks[nid] = TaskPlan(nid, 2048, worker=worker, startup="cold", start_s=0.0, end_s=1.0)
    return PlanData(planner=config.planner, sla=config.sla, tasks=tasks, note="hand-made: one worker per consumer")


def test_streaming_consumers_beyond_the_cores_give_theirs_back_while_waiting_for_items(live, monkeypatch):
    """A generator with more streaming consumers than cores, each consumer a logical worker of its own
    (released before the generator's body starts): under the bound, every consumer sums all the items.
    (Consumers that came first would hold every core while the generator waits for one, but that their
    bodies give theirs back while waiting for an item is the next test's: here the generator is usually
    first, the consumers' branches take longer to start.)"""
    monkeypatch.setitem(planning.PLANNERS, "consumer-each", consumer_each)
    n = max(1, int(pools.host_cores()))
    gen = t.count_up(6, 0.2)
    run = submit(t.gather([t.running_sum(gen) for _ in range(n + 1)]), name="streams-wide", planner="consumer-each")
    sums = run.result(timeout=90)
    assert [(s["total"], s["n"]) for s in sums] == [(15, 6)] * (n + 1)
    workers = set(
        TaskRun.objects.filter(run_id=run.id, function__endswith="running_sum").values_list("worker_id", flat=True)
    )
    assert len(workers) == n + 1


def test_a_body_waiting_on_another_task_lends_its_core(own_slots):
    """``lent``: a body blocked on another task (a stream's next item) gives its core back meanwhile, so
    with every core held that other task's body gets one — then takes its own again."""
    n = cores.slots()
    stops = _hold_all(n - 1)
    produced = threading.Event()

    def producer() -> None:
        cores.acquire(1.0)
        produced.set()
        cores.release()

    try:
        cores.acquire(5.0)  # the consumer: the last core
        with cores.lent():
            threading.Thread(target=producer).start()
            assert produced.wait(timeout=30)  # got the consumer's core
        assert cores.holding() and cores.holders().count(os.getpid()) == n
    finally:
        cores.release()
        for stop in stops:
            stop.set()
