"""What each task waits for is recorded once, by the point simulation (``planning.waits``), and every
reader agrees with it: replayed with the point durations the waits give back the simulation's times;
slack's forward pass, the critical path and Monte Carlo without variance say the same."""

import numpy as np
import pytest

from orchestrator.planning import montecarlo, timing
from orchestrator.planning.dag import index
from orchestrator.planning.effects import Effects
from orchestrator.planning.evaluate import TYPICAL, Planning
from orchestrator.planning.predictor import Predictor
from orchestrator.planning.slack import Slack
from orchestrator.planning.waits import DISPATCH, EPS, PRELOAD, PROCESS, SPAWN, UP, Clock
from tests.planning_support import config, graph, history, same_everywhere

COLD, WARM = 0.5, 0.01


def startup(mb, state):
    return WARM if state == "warm" else COLD


def point_sim(g, worker, run_time, *, pool=None, preload=None, memory=None):
    dag = index(g)
    pos = {nid: i for i, nid in enumerate(dag.ids)}
    w = [worker[nid] for nid in dag.ids]
    tl = timing.simulate(
        dag,
        worker=w,
        worker_memory=memory or [2048] * (max(w) + 1),
        run_time=[run_time[nid] for nid in dag.ids],
        post=[0.0] * dag.n,
        priority=[0.0] * dag.n,
        startup=startup,
        keepalive_s=7.0,
        pool_size=pool,
        preload={pos[t]: [(pos[u], dl) for u, dl in ups] for t, ups in (preload or {}).items()},
    )
    return tl, pos, dag


def replay(tl, run, post):
    """The waits replayed with the point durations (what Monte Carlo does with samples)."""
    clock = Clock(tl.waits)
    for is_branch, x in tl.waits.nodes(tl.order):
        if is_branch:
            clock.settle_branch(x, tl.branches[x].startup_s)
        else:
            clock.settle_task(x, [run[x]], post[x])
    return clock


def held_back_by(tl, post, is_branch, x) -> set[int]:
    """The tasks whose done held ``x`` (a task's start or work, a branch's start-up) back, through
    start-ups that held: every wait whose time is the one ``x`` waited until."""
    done = [e + p for e, p in zip(tl.end, post)]

    def when(w):
        return 0.0 if w.on < 0 else tl.branches[w.on].up_s if w.on_branch else done[w.on] + w.lag

    if is_branch:
        br = tl.branches[x]
        waits, until = tl.waits.branch[x], br.up_s - br.startup_s
    else:
        preloading = tl.begin[x] > tl.start[x] + EPS
        waits = [w for w in tl.waits.task(x) if (w.kind == PRELOAD) == preloading]
        until = tl.begin[x] if preloading else tl.start[x]
    out: set[int] = set()
    for w in waits:
        if w.on >= 0 and abs(when(w) - until) <= 1e-9:
            out |= held_back_by(tl, post, True, w.on) if w.on_branch else {w.on}
    return out


def assert_agree(dag, tl, post):
    """Every reader of the waits gives back the simulation's times and critical path."""
    run = [e - b for e, b in zip(tl.end, tl.begin)]  # what the task took once its inputs were in
    clock = replay(tl, run, post)
    assert clock.start == pytest.approx(tl.start, abs=1e-9)
    assert clock.end == pytest.approx(tl.end, abs=1e-9)
    assert clock.up == pytest.approx([br.up_s for br in tl.branches], abs=1e-9)
    slack = Slack(
        dag,
        tl,
        worker=[tl.branches[b].worker for b in tl.branch_of],
        run_time=run,
        post=post,
        branch_startup=[br.startup_s for br in tl.branches],
        deadline=tl.makespan,
    )
    assert slack.start[: dag.n] == pytest.approx(tl.start, abs=1e-9)
    assert slack.end[: dag.n] == pytest.approx(tl.end, abs=1e-9)
    assert slack.makespan() == pytest.approx(tl.makespan, abs=1e-9)
    # At a deadline of the makespan, the critical path has no slack: its tasks' latest ends are their ends.
    for i in tl.critical_path:
        assert slack.latest[i] == pytest.approx(tl.end[i], abs=1e-6)
    # The critical path is a chain of waits that held, from time 0 to the sink.
    path = tl.critical_path
    assert path[-1] == dag.sink
    assert not held_back_by(tl, post, False, path[0])  # nothing held its first task but time 0
    for a, b in zip(path, path[1:]):
        assert a in held_back_by(tl, post, False, b)
    return slack


def test_the_readers_agree_on_a_pool_with_hand_overs_spawns_and_preload():
    """Five workers on a pool of two processes: branches wait for a spawn, for a process another
    branch releases, and one task preloads an input — the replay, slack and the critical path all
    give back the simulation's times."""
    g = graph(
        {
            "A": ("f", []),
            "R": ("f", []),
            "B": ("f", ["R"]),
            "C": ("f", ["R"]),
            "D": ("f", ["B", "C"]),
            "S": ("f", ["A", "D"]),
        }
    )
    worker = {"A": 0, "R": 1, "B": 2, "C": 3, "D": 4, "S": 0}
    run = {"A": 3.0, "R": 0.1, "B": 1.0, "C": 1.2, "D": 0.3, "S": 0.1}
    tl, pos, dag = point_sim(g, worker, run, pool=2, preload={"D": [("C", 0.4)]})
    kinds = {w.kind for ws in tl.waits.branch for w in ws} | {w.kind for i in range(dag.n) for w in tl.waits.task(i)}
    assert {SPAWN, PROCESS, PRELOAD, UP, DISPATCH} <= kinds  # the plan exercises every kind of wait
    assert_agree(dag, tl, [0.0] * dag.n)


def test_slack_waits_for_the_spawn_a_branch_queued_behind():
    """Two roots on their own workers: a worker forks one process at a time, so the second root's
    branch is up only after both spawns. Slack used to start it after its own spawn alone."""
    g = graph({"a": ("f", []), "b": ("f", []), "s": ("f", ["a", "b"])})
    tl, pos, dag = point_sim(g, {"a": 0, "b": 1, "s": 0}, {"a": 1.0, "b": 1.0, "s": 0.1})
    second = max(("a", "b"), key=lambda n: tl.start[pos[n]])
    assert tl.start[pos[second]] == pytest.approx(2 * COLD)
    assert [w.kind for w in tl.waits.branch[tl.branch_of[pos[second]]]] == [DISPATCH, SPAWN]
    slack = assert_agree(dag, tl, [0.0] * dag.n)
    assert slack.start[pos[second]] == pytest.approx(2 * COLD)


def test_slack_and_the_critical_path_see_a_preloaded_input():
    """t's worker preloads u's output (3 s to download, from u's end on) while it runs v: t's work
    begins when the download is in, not when t starts. Slack used to end t 3 s early; the critical
    path used to follow v, t's latest input, though the download held t longer."""
    g = graph({"u": ("f", []), "v": ("f", []), "t": ("f", ["u", "v"])})
    tl, pos, dag = point_sim(g, {"u": 1, "v": 0, "t": 0}, {"u": 0.2, "v": 1.5, "t": 0.5}, preload={"t": [("u", 3.0)]})
    u, v, t = pos["u"], pos["v"], pos["t"]
    assert tl.end[u] < tl.end[v] < tl.end[u] + 3.0  # v is t's latest input; the download ends later
    assert tl.begin[t] == pytest.approx(tl.end[u] + 3.0)
    assert tl.critical_path == [u, t]
    slack = assert_agree(dag, tl, [0.0] * dag.n)
    assert slack.end[t] == pytest.approx(tl.end[u] + 3.0 + 0.5)


def test_the_critical_path_follows_the_spawn_a_branch_queued_behind():
    """x (after a) and y (after b) start new processes on their own workers; a ends first, so x's spawn
    is under way when b ends, and y's queues behind it. y waited for a, through x's spawn, not for
    b: a faster b would not start y sooner. The critical path used to follow y's trigger's input, b."""
    g = graph({"a": ("f", []), "b": ("f", []), "x": ("f", ["a"]), "y": ("f", ["b"]), "z": ("f", ["x", "y"])})
    worker = {"a": 0, "b": 1, "x": 2, "y": 3, "z": 0}
    tl, pos, dag = point_sim(g, worker, {"a": 1.0, "b": 0.6, "x": 1.0, "y": 1.0, "z": 0.1})
    y_branch = tl.branches[tl.branch_of[pos["y"]]]
    assert y_branch.spawn_after == tl.branch_of[pos["x"]] and y_branch.pool_wait_s > 0
    assert tl.critical_path == [pos[n] for n in ("a", "y", "z")]
    assert_agree(dag, tl, [0.0] * dag.n)


def deterministic_planning(g, **kw):
    """Every sample the same: Monte Carlo has no variance to draw from."""
    fns = {n.function for n in g.values()}
    return Planning(
        g,
        Predictor(history(same_everywhere(fns, 0.5), transfer_s=0.05, post_s=0.02, cold_s=0.4)),
        config("uniform", sla="p50", mc_samples=50, **kw),
    )


@pytest.mark.parametrize("pool, waited", [(None, SPAWN), (2, PROCESS)])
def test_monte_carlo_without_variance_is_the_point_simulation(pool, waited):
    """On a fan-out and fan-in over four workers — a branch queued behind another's spawn, or with a pool
    of two, one waiting for another's process — and a preloaded input, every simulated run of Monte
    Carlo is the point simulation."""
    g = graph(
        {"r": ("m.r", []), "a": ("m.a", ["r"]), "b": ("m.b", ["r"]), "c": ("m.c", ["r"]), "j": ("m.j", ["a", "b", "c"])}
    )
    s = deterministic_planning(g, pool_size=pool)
    worker = [{"r": 0, "a": 1, "b": 2, "c": 3, "j": 0}[nid] for nid in s.dag.ids]
    effects = Effects.of(s.dag, {"j": {"preload": {}}}, 0.0)
    ev = s.evaluate(worker, [2048] * 4, effects=effects)
    tl = ev.timeline
    assert any(w.kind == PRELOAD for i in range(s.dag.n) for w in tl.waits.task(i))
    assert any(
        br.pool_wait_s > 0 and waited in {w.kind for w in tl.waits.branch[b]} for b, br in enumerate(tl.branches)
    )
    assert np.allclose(ev.outcome.makespans, tl.makespan, atol=1e-9)
    assert_agree(s.dag, tl, ev.dur.post)
    again = montecarlo.run(
        s.dag,
        tl,
        predictor=s.predictor,
        sizes=s.sizes,
        memory=ev.memory,
        worker=worker,
        uploads=ev.dur.uploads,
        sla=TYPICAL,
        samples=7,
    )
    assert np.allclose(again.makespans, tl.makespan, atol=1e-9)


def test_the_readers_agree_on_a_planned_run():
    """A plan the non-uniform planner makes (yields and downgrades included): its timeline's waits,
    replayed, give back its times; slack and the critical path agree."""
    from orchestrator import planning

    g = graph(
        {"r": ("m.r", []), **{f"p{k}": ("m.p", ["r"]) for k in range(6)}, "j": ("m.j", [f"p{k}" for k in range(6)])}
    )
    fns = {n.function for n in g.values()}
    p = Predictor(history(same_everywhere(fns, 0.3), transfer_s=0.02, spread=0.2))
    s = Planning(g, p, config("non-uniform", pool_size=3))
    worker = s.assign_workers(2048)
    ev = s.evaluate(worker, [2048] * (max(worker) + 1))
    assert_agree(s.dag, ev.timeline, ev.dur.post)
    plan = planning.get("non-uniform")(g, p, config("non-uniform", pool_size=3))
    assert plan.critical_path[-1] == "j"
