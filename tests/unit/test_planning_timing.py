"""The timing simulation: start-ups, pool processes, keep-alive, yields, critical path."""

import pytest

from orchestrator.planning import timing
from orchestrator.planning.dag import index
from tests.planning_support import graph

COLD, WARM = 0.5, 0.01


def startup(mb, state):
    return WARM if state == "warm" else COLD


def sim(g, worker, run_time, *, memory=None, post=None, pool=None, keepalive=7.0, warm=(), min_pool=0, alive=None):
    dag = index(g)
    pos = {nid: i for i, nid in enumerate(dag.ids)}
    w = [worker[nid] for nid in dag.ids]
    n_workers = max(w) + 1
    tl = timing.simulate(
        dag,
        worker=w,
        worker_memory=memory or [2048] * n_workers,
        run_time=[run_time[nid] for nid in dag.ids],
        post=[(post or {}).get(nid, 0.0) for nid in dag.ids],
        priority=[0.0] * dag.n,
        startup=startup,
        keepalive_s=keepalive,
        pool_size=pool,
        warm_processes=warm,
        min_pool=min_pool,
        pool_processes=alive,
    )
    return tl, pos, dag


def test_a_chain_on_one_worker_starts_once():
    """a → b → c on one worker: one cold start, then back to back."""
    g = graph({"a": ("f", []), "b": ("f", ["a"]), "c": ("f", ["b"])})
    tl, pos, _ = sim(g, {"a": 0, "b": 0, "c": 0}, {"a": 1.0, "b": 2.0, "c": 0.5}, post={"a": 0.1, "b": 0.1})
    assert [tl.start[pos[n]] for n in "abc"] == pytest.approx([0.5, 1.6, 3.7])
    assert tl.makespan == pytest.approx(4.2)
    assert len(tl.branches) == 1 and tl.branches[0].cold
    assert tl.critical_path == [pos[n] for n in "abc"]


def test_a_process_starting_up_is_busy():
    """The prior system left start-up out of activity periods. Here, with two processes:

       A (root, its own worker): spawned, 0.5, then a 3 s task        process 1: busy 0 → 3.5
       R (root): its spawn queues behind A's (a worker forks one       process 2: free at 1.1
       at a time): up at 1.0, then 0.1 s
       R → B and R → C on two more workers, both dispatched at 1.1

    B takes R's idle process (warm). C finds none idle: process 1 is still busy — it was
    starting up or running the whole time — so C waits for the first release (B's).
    """
    g = graph({"A": ("f", []), "R": ("f", []), "B": ("f", ["R"]), "C": ("f", ["R"]), "S": ("f", ["A", "B", "C"])})
    worker = {"A": 0, "R": 1, "B": 2, "C": 3, "S": 0}
    tl, pos, _ = sim(g, worker, {"A": 3.0, "R": 0.1, "B": 1.0, "C": 1.0, "S": 0.1}, pool=2)
    br = {tl.branches[tl.branch_of[pos[n]]].worker: tl.branches[tl.branch_of[pos[n]]] for n in "ARBC"}
    assert not br[2].cold and br[2].after >= 0 and tl.branches[br[2].after].worker == 1
    assert br[1].spawn_after == tl.branch_of[pos["A"]] and br[1].pool_wait_s == pytest.approx(COLD)
    assert tl.start[pos["R"]] == pytest.approx(2 * COLD)
    assert tl.start[pos["B"]] == pytest.approx(1.1 + WARM)
    assert br[3].pool_wait_s == pytest.approx(1.0 + WARM)  # waited for B's release at 2.11
    assert tl.branches[br[3].after].worker == 2 and not br[3].cold
    assert tl.start[pos["C"]] == pytest.approx(2.11 + WARM)


def test_keep_alive_decides_warm_or_cold():
    """R ends at 0.6 and frees its process; a task ready 5 s later finds it warm, 8 s later cold."""
    for delay, cold in ((5.0, False), (8.0, True)):
        g = graph({"R": ("f", []), "D": ("f", []), "B": ("f", ["R", "D"])})
        # D, a root on a worker of its own (the other process), delays B's readiness.
        tl, pos, _ = sim(g, {"R": 0, "D": 1, "B": 2}, {"R": 0.1, "D": delay, "B": 0.1}, pool=2)
        b = tl.branches[tl.branch_of[pos["B"]]]
        assert b.cold is cold
        assert b.after == tl.branch_of[pos["R"]]  # R's process: idle since 0.6


def test_warm_processes_at_the_start():
    g = graph({"a": ("f", [])})
    tl, _, _ = sim(g, {"a": 0}, {"a": 1.0}, warm=((2048, 3.0),))
    assert not tl.branches[0].cold and tl.makespan == pytest.approx(WARM + 1.0)
    tl, _, _ = sim(g, {"a": 0}, {"a": 1.0}, warm=((2048, 9.0),))  # served 9 s ago: past the window
    assert tl.branches[0].cold


def test_standing_processes_start_cold_and_more_are_spawned():
    g = graph({"a": ("f", []), "b": ("f", []), "s": ("f", ["a", "b"])})
    tl, pos, _ = sim(g, {"a": 0, "b": 1, "s": 0}, {"a": 1.0, "b": 1.0, "s": 0.1}, min_pool=1)
    assert [br.state for br in tl.branches] == ["cold", "new"]
    tl, pos, _ = sim(g, {"a": 0, "b": 1, "s": 0}, {"a": 1.0, "b": 1.0, "s": 0.1}, min_pool=1, warm=((2048, 1.0),))
    assert [br.state for br in tl.branches] == ["warm", "new"]  # the standing process is the warm one


def test_processes_a_pool_still_has_start_cold_without_a_spawn():
    """Celery's pool keeps every process while its queue is busy: one that sat out recent runs is
    cold for this workflow, but needs no spawn (the published pool size says it is there)."""
    g = graph({"a": ("f", []), "b": ("f", []), "c": ("f", []), "s": ("f", ["a", "b", "c"])})
    worker, times = {"a": 0, "b": 1, "c": 2, "s": 0}, {"a": 1.0, "b": 1.0, "c": 1.0, "s": 0.1}
    tl, _, _ = sim(g, worker, times, min_pool=1, warm=((2048, 1.0),), alive={2048: 2})
    assert sorted(br.state for br in tl.branches) == ["cold", "new", "warm"]
    tl, _, _ = sim(g, worker, times, min_pool=1, warm=((2048, 1.0),), alive={2048: 3, 512: 4})
    assert sorted(br.state for br in tl.branches) == ["cold", "cold", "warm"]


def test_an_idle_branch_yields_its_process_to_a_waiting_one():
    """One process. Worker 0 runs a, then waits for b (worker 1) before c:

        a(w0)   b(w1)
           \\    /
            c(w0)

    w1 cannot start while w0 holds the only process, so w0 yields after a (as the
    runtime's bounded wait does); b runs; w0 starts again (warm) for c.
    """
    g = graph({"a": ("f", []), "b": ("f", []), "c": ("f", ["a", "b"])})
    tl, pos, _ = sim(g, {"a": 0, "b": 1, "c": 0}, {"a": 1.0, "b": 1.0, "c": 1.0}, pool=1)
    w0 = [br for br in tl.branches if br.worker == 0]
    assert len(w0) == 2 and w0[0].cold and not w0[1].cold
    assert tl.start[pos["b"]] == pytest.approx(0.5 + 1.0 + WARM)
    assert tl.start[pos["c"]] == pytest.approx(2.51 + WARM)  # b's process, just released
    # The critical path runs through the pool hand-over: a, then b (waited for a's process), then c.
    assert tl.critical_path == [pos["a"], pos["b"], pos["c"]]


def test_a_worker_yields_before_a_task_it_should_not_wait_for():
    """a(w0) and b(w1, 3 s) feed c(w0). Told to yield before c, w0 frees its process after a
    (its busy time ends at 1.5 s, not 3.5 s) and starts again, warm, when b is done."""
    g = graph({"a": ("f", []), "b": ("f", []), "c": ("f", ["a", "b"])})
    dag = index(g)
    c = dag.ids.index("c")
    w = [0 if nid != "b" else 1 for nid in dag.ids]
    kw = dict(
        worker=w,
        worker_memory=[2048, 2048],
        run_time=[1.0 if nid != "b" else 3.0 for nid in dag.ids],
        post=[0.0] * 3,
        priority=[0.0] * 3,
        startup=startup,
        keepalive_s=7.0,
        pool_size=None,
    )
    held = timing.simulate(dag, **kw)
    yielded = timing.simulate(dag, **kw, yield_before=frozenset({c}))
    assert len(held.branches) == 2 and len(yielded.branches) == 3
    first = yielded.branches[0]
    assert first.worker == 0 and first.released_s == pytest.approx(1.5)
    again = yielded.branches[yielded.branch_of[c]]
    assert again.worker == 0 and again.state == "warm" and again.first == c
    assert yielded.start[c] == pytest.approx(held.start[c] + WARM)


def test_memory_sizes_have_separate_pools():
    g = graph({"a": ("f", []), "b": ("f", []), "s": ("f", ["a", "b"])})
    tl, pos, _ = sim(g, {"a": 0, "b": 1, "s": 0}, {"a": 1.0, "b": 1.0, "s": 0.1}, memory=[512, 2048], pool=1)
    assert tl.start[pos["a"]] == tl.start[pos["b"]] == pytest.approx(COLD)


def test_critical_path_follows_the_latest_input():
    """
        s
       / \\
      l   r      r takes 3 s on its own worker, l 1 s on s's worker
       \\ /
        j
    """
    g = graph({"s": ("f", []), "l": ("f", ["s"]), "r": ("f", ["s"]), "j": ("f", ["l", "r"])})
    tl, pos, _ = sim(g, {"s": 0, "l": 0, "r": 1, "j": 0}, {"s": 0.1, "l": 1.0, "r": 3.0, "j": 0.1})
    assert tl.critical_path == [pos[n] for n in ("s", "r", "j")]
    assert tl.makespan == pytest.approx(0.5 + 0.1 + 0.5 + 3.0 + 0.1)


def test_tasks_in_a_new_process_first_branch_take_longer():
    """A forked process is slow at first: its first branch's tasks get their extra time; a
    warm process's do not."""
    g = graph({"a": ("f", []), "b": ("f", ["a"])})
    dag = index(g)
    kw = dict(
        worker=[0, 0],
        worker_memory=[2048],
        run_time=[1.0, 1.0],
        post=[0.0, 0.0],
        priority=[0.0, 0.0],
        startup=startup,
        keepalive_s=7.0,
        pool_size=None,
        fresh_extra=[0.5, 0.25],
    )
    tl = timing.simulate(dag, **kw)
    assert tl.branches[0].state == "new" and tl.makespan == pytest.approx(COLD + 2.75)
    tl = timing.simulate(dag, warm_processes=((2048, 1.0),), **kw)
    assert tl.branches[0].state == "warm" and tl.makespan == pytest.approx(WARM + 2.0)
