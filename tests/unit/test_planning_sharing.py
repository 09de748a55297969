"""Processor sharing in the timing model: branches that run at once share the hosts' cores.

Simulated times are asserted exactly (pure simulation); every worker starts warm (0.01 s).
"""

import pytest

from orchestrator.planning import contention, crowding, nonuniform, sharing, timing, uniform
from orchestrator.planning.dag import index
from orchestrator.planning.evaluate import Planning
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample
from orchestrator.planning.predictor import Predictor
from tests.planning_support import config, graph

WARM = 0.01


def sim(g, worker, exec_s, demand, *, cores, upload=None):
    dag = index(g)
    pos = {nid: i for i, nid in enumerate(dag.ids)}
    w = [worker[nid] for nid in dag.ids]
    n_workers = max(w) + 1
    ex = [exec_s[nid] for nid in dag.ids]
    up = [(upload or {}).get(nid, 0.0) for nid in dag.ids]
    tl = timing.simulate(
        dag,
        worker=w,
        worker_memory=[2048] * n_workers,
        run_time=[e + u for e, u in zip(ex, up)],
        post=[0.0] * dag.n,
        priority=[0.0] * dag.n,
        startup=lambda mb, kind: WARM,
        keepalive_s=7.0,
        pool_size=None,
        warm_processes=tuple((2048, 1.0) for _ in range(n_workers)),
        cores=cores,
        cpu_demand=[demand[nid] for nid in dag.ids],
        exec_part=ex,
        upload_part=up,
    )
    return tl, pos


def simple_sim(dag, worker: list[int], **extra):
    """One second per task on 2048 MB workers that start warm, no priorities, no capacity unless given."""
    return timing.simulate(
        dag,
        worker=worker,
        worker_memory=[2048] * (max(worker) + 1),
        run_time=[1.0] * dag.n,
        post=[0.0] * dag.n,
        priority=[0.0] * dag.n,
        startup=lambda mb, kind: WARM,
        keepalive_s=7.0,
        pool_size=None,
        **extra,
    )


PAIR = """
    a   b      two CPU-bound tasks on their own workers, side by side, into s
     \\ /
      s
"""


def pair():
    return graph({"a": ("f", []), "b": ("f", []), "s": ("f", ["a", "b"])})


def test_two_cpu_bound_tasks_on_one_core_take_twice_as_long_as_on_two():
    g = pair()
    worker = {"a": 0, "b": 1, "s": 0}
    exec_s = {"a": 1.0, "b": 1.0, "s": 0.0}
    demand = {"a": 1.0, "b": 1.0, "s": 0.0}
    two, pos = sim(g, worker, exec_s, demand, cores=2)
    one, _ = sim(g, worker, exec_s, demand, cores=1)
    assert two.end[pos["a"]] == pytest.approx(WARM + 1.0)
    assert one.end[pos["a"]] == one.end[pos["b"]] == pytest.approx(WARM + 2.0)
    assert (one.end[pos["a"]] - WARM) == pytest.approx(2 * (two.end[pos["a"]] - WARM))
    assert one.stretch[pos["a"]] == pytest.approx(2.0) and two.stretch[pos["a"]] == 1.0


def test_without_a_capacity_nothing_is_shared():
    g = pair()
    dag = index(g)
    tl = simple_sim(dag, [0, 1, 0][: dag.n])
    assert tl.stretch == [1.0] * dag.n


def test_a_task_with_a_small_cpu_share_is_barely_slowed():
    """
    a  b  c  d   three CPU-bound tasks and d, which computes 10 % of its time, on one core
    """
    g = graph({"a": ("f", []), "b": ("f", []), "c": ("f", []), "d": ("f", []), "s": ("f", ["a", "b", "c", "d"])})
    worker = {"a": 0, "b": 1, "c": 2, "d": 3, "s": 0}
    exec_s = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0, "s": 0.0}
    demand = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.1, "s": 0.0}
    tl, pos = sim(g, worker, exec_s, demand, cores=1)
    # d keeps its 0.1 core (less than a fair quarter); a, b and c split the other 0.9
    assert tl.end[pos["d"]] - WARM == pytest.approx(1.0)
    assert tl.stretch[pos["d"]] == pytest.approx(1.0)
    # a, b and c run at 0.3 until d ends at 1 s, then at 1/3: 3.1 s of CPU in all
    assert tl.end[pos["a"]] - WARM == pytest.approx(3.1)


def test_rates_change_as_tasks_come_and_go():
    """On one core, a (2 s) shares with b (1 s) until b ends at 2 s; a then finishes alone at 3 s."""
    c = sharing.Cores(1.0)
    assert c.start(0, 0.0, work=2.0, demand=1.0) == [(0, 2.0)]
    assert sorted(c.start(1, 0.0, work=1.0, demand=1.0)) == [(0, 4.0), (1, 2.0)]
    assert c.finish(1, 2.0) == [(0, 3.0)]


def test_quotas_below_the_cores_are_never_shared():
    """Three processes at 0.57 CPU each want 1.71 cores of a 2-core host: all at full speed."""
    c = sharing.Cores(2.0)
    for i in range(3):
        moved = c.start(i, 0.0, work=1.0, demand=0.57)
        assert moved == [(i, 1.0)]


def test_bad_capacity_is_refused():
    with pytest.raises(ValueError, match="cores must be positive"):
        sharing.Cores(0)
    with pytest.raises(ValueError, match="cores needs cpu_demand"):
        dag = index(pair())
        simple_sim(dag, [0] * dag.n, cores=2)


def test_the_critical_path_moves_when_contention_slows_the_other_branch():
    """
        r
      / | \\
     l  c1 c2     l sleeps 1.5 s (no CPU); c1 computes 1 s beside c2 (1 s, CPU-bound)
      \\ |         j waits for l and c1
        j
    With enough cores the critical path runs through l; on one core c1 and c2 share it, c1 takes
    2 s and the critical path runs through c1.
    """
    g = graph(
        {
            "r": ("f", []),
            "l": ("f", ["r"]),
            "c1": ("f", ["r"]),
            "c2": ("f", ["r"]),
            "j": ("f", ["l", "c1"]),
            "s": ("f", ["j", "c2"]),
        }
    )
    worker = {"r": 0, "l": 0, "c1": 1, "c2": 2, "j": 0, "s": 0}
    exec_s = {"r": 0.0, "l": 1.5, "c1": 1.0, "c2": 1.0, "j": 0.1, "s": 0.0}
    demand = {"r": 0.0, "l": 0.0, "c1": 1.0, "c2": 1.0, "j": 0.0, "s": 0.0}
    wide, pos = sim(g, worker, exec_s, demand, cores=4)
    narrow, _ = sim(g, worker, exec_s, demand, cores=1)
    on = lambda tl: [n for n in ("l", "c1") if pos[n] in tl.critical_path]  # noqa: E731
    assert on(wide) == ["l"]
    assert on(narrow) == ["c1"]
    assert narrow.makespan > wide.makespan


def test_contention_of_a_past_run_is_divided_out():
    """The inverse of sharing: what a recorded run's tasks would have taken alone."""
    both = [contention.Span(0, 2, 2, 1.0, 1.0), contention.Span(0, 2, 2, 1.0, 1.0)]
    assert contention.stretches(both, 1.0) == pytest.approx([2.0, 2.0])
    assert contention.stretches(both, 2.0) == pytest.approx([1.0, 1.0])  # half of each was not computing
    sleeper = contention.Span(0, 2, 2, 0.0, 1.0)
    assert contention.stretches(both + [sleeper], 1.0)[2] == 1.0
    with pytest.raises(ValueError, match="cores must be positive"):
        contention.stretches(both, 0)


def test_plans_on_fewer_cores_promise_more_and_record_the_capacity():
    """Six parallel CPU-bound tasks (1 s each on 2048 MB, measured CPU ≈ their time) into a sink:
    planned on 2 cores they take about three times as long as with unlimited cores."""

    g = graph({**{f"c{k}": ("busy", []) for k in range(6)}, "s": ("sum", [f"c{k}" for k in range(6)])})
    h = cpu_history({"busy": (1.0, 1.0), "sum": (0.01, 0.0)})

    free = uniform.plan(g, Predictor(h), config(sla="p50"))
    two = uniform.plan(g, Predictor(h), config(sla="p50", cores=2.0, capacity_source="test"))
    assert free.capacity["cores"] is None and free.capacity["contended_tasks"] == 0
    assert len(free.workers()) == 6 and len(two.workers()) == 2  # no more busy workers than cores
    assert two.capacity == {"cores": 2.0, "source": "test", "contended_tasks": 0, "max_stretch": 1.0}
    assert two.predicted_median_s / free.predicted_median_s == pytest.approx(3.0, rel=0.1)
    assert two.monte_carlo_s > 2.5 * free.monte_carlo_s
    # The six on six workers anyway: they share the 2 cores, each stretched three times, and the plan says so.
    s = Planning(g, Predictor(h), config(sla="p50", cores=2.0, capacity_source="test"))
    wide = list(range(s.dag.n))
    six = s._build_plan(s.evaluate(wide, [2048] * len(wide)), wide, "six workers")
    assert six.capacity == {
        "cores": 2.0,
        "source": "test",
        "contended_tasks": 6,
        "max_stretch": pytest.approx(3.0, rel=0.02),
    }
    assert six.predicted_median_s / free.predicted_median_s == pytest.approx(3.0, rel=0.1)
    assert six.monte_carlo_s > 2.5 * free.monte_carlo_s  # Monte Carlo shares the cores too


def cpu_history(tasks: dict[str, tuple[float, float]], mbs=(2048,)) -> History:
    """Each function's exec time and CPU seconds at 2048 MB (one full CPU there); other
    configurations follow from the CPU share; fast start-ups and transfers."""
    h = History()
    for fn, (exec_s, cpu_s) in tasks.items():
        for k in range(8):
            h.add_task(fn, 2048, TaskSample(0, exec_s, 100, cpu_s=cpu_s, run=k))
    for mb in (512, 1024, 2048):
        for _ in range(8):
            h.add_download(mb, TransferSample(100, 0.001))
            h.add_upload(mb, TransferSample(100, 0.001))
            h.add_store(mb, TransferSample(100, 0.001))
            for kind in ("new", "cold", "warm"):
                h.add_startup(mb, kind, StartupSample(0.01, 0.0))
    return h


CROWD = """
      r               a 3-link chain of 1 s CPU-bound links (critical) beside twelve
    / | \\             0.2 s CPU-bound siblings, on 2 cores
   a1 s1 … s12
   |
   a2 … a3 → j (gathers a3 and the siblings)
"""


def crowd():
    edges = {"r": ("root", []), "a1": ("link", ["r"]), "a2": ("link", ["a1"]), "a3": ("link", ["a2"])}
    edges.update({f"s{k}": ("side", ["r"]) for k in range(12)})
    edges["j"] = ("join", ["a3"] + [f"s{k}" for k in range(12)])
    return graph(edges), cpu_history(
        {"root": (0.001, 0.0), "link": (1.0, 1.0), "side": (0.2, 0.2), "join": (0.001, 0.0)}
    )


def test_siblings_that_crowd_the_critical_path_are_folded_onto_fewer_workers():
    g, h = crowd()
    free = Planning(g, Predictor(h), config(sla="p50"))
    rules = free._assign(2048)  # the rules without a bound on the cores: the siblings spread out
    s = Planning(g, Predictor(h), config(sla="p50", cores=2.0))
    look = lambda w: s.evaluate(w, [2048] * (max(w) + 1), monte_carlo=False).timeline  # noqa: E731
    folded = crowding.fold(s.dag, rules, look(rules), look)
    assert max(folded) < max(rules)  # fewer workers
    assert look(folded).makespan < 0.9 * look(rules).makespan
    # with unlimited cores the rules' parallelism is kept
    assert free.assign_workers(2048) == free._assign(2048)
    # on 2 cores the rules deal the siblings onto one worker beside the chain's: no crowding to fold
    bounded = s.assign_workers(2048)
    assert max(bounded) == 1 and look(bounded).makespan <= look(folded).makespan


def test_a_downgrade_that_frees_a_core_for_the_critical_path_is_seen_to_help():
    """
       r
     / | \\       a: 2 s CPU-bound (critical); b, c: 0.5 s CPU-bound each; 2 cores.
    a  b  c      At 2048 MB all three want a core: a runs at 2/3 while b and c last (2.25 s in all).
     \\ | /       At 512 MB b and c want 0.29 core each: a keeps a whole core (2.0 s), and b and c
       j         (1.7 s now) still end before it.
    """
    g = graph(
        {
            "r": ("root", []),
            "a": ("link", ["r"]),
            "b": ("side", ["r"]),
            "c": ("side", ["r"]),
            "j": ("join", ["a", "b", "c"]),
        }
    )
    h = cpu_history({"root": (0.001, 0.0), "link": (2.0, 2.0), "side": (0.5, 0.5), "join": (0.001, 0.0)})
    seen = {}
    for cores in (2.0, None):
        s = Planning(g, Predictor(h), config("non-uniform", sla="p50", cores=cores))
        own = {"r": 0, "a": 0, "j": 0, "b": 1, "c": 2}  # as the rules on an idle host lay it out
        worker = [own[nid] for nid in s.dag.ids]
        look = lambda mbs, s=s, worker=worker: s.evaluate(worker, mbs, monte_carlo=False).timeline.makespan  # noqa: E731
        seen[cores] = look([2048, 2048, 2048]) - look([2048, 512, 512])
    assert seen[2.0] == pytest.approx(0.25, abs=0.02)  # the downgrade shortens the run by a quarter second
    assert seen[None] <= 0  # without the capacity model it could only look harmless at best
    # End to end, non-uniform's plan on 2 cores is no slower than the all-largest one and cheaper.
    base = uniform.plan(g, Predictor(h), config(sla="p50", cores=2.0))
    plan = nonuniform.plan(g, Predictor(h), config("non-uniform", sla="p50", cores=2.0))
    assert plan.predicted_median_s <= base.predicted_median_s
    assert plan.predicted_gb_seconds < base.predicted_gb_seconds


def test_plans_record_their_promise_at_other_slas_the_same_way():
    g, h = crowd()
    plan = uniform.plan(g, Predictor(h), config(sla="p90", cores=2.0))
    assert plan.promises["p90"] == pytest.approx(plan.predicted_makespan_s)
    assert plan.promises["p50"] <= plan.promises["p90"] <= plan.promises["p95"]


def test_a_crowded_run_on_a_busy_host_still_shows_its_own_contention():
    """Three CPU-bound tasks on 2 cores, each seen computing half the time (the host's other load took
    the rest): each wanted a core, got two thirds of one — the model's own sharing is divided out,
    the rest stays in the time."""
    three = [contention.Span(0, 1.1, 1.1, 0.6, 1.0) for _ in range(3)]
    assert contention.stretches(three, 2.0) == pytest.approx([1.1 / (0.6 + (1.1 - 0.6 / (2 / 3)))] * 3)
