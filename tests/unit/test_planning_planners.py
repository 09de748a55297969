"""Planners on small graphs drawn in ASCII, rerun with renamed ids and functions.

Histories are synthetic with known behaviour (tests/planning_support.py):
every sample of a function at a memory size has the same exec time, so the
planners' choices follow from the numbers in each test.
"""

import copy

import pytest

from orchestrator import planning
from orchestrator.planning import nonuniform, uniform, wukong
from orchestrator.planning.evaluate import Planning
from orchestrator.planning.history import TransferSample
from orchestrator.planning.plan import Plan
from orchestrator.planning.predictor import Predictor
from tests.planning_support import OPTIONS, config, graph, history, renamed, same_everywhere

MB = 1 << 20


def plan_with(name, g, h, **kw):
    return planning.get(name)(g, Predictor(h), config(name, **kw))


def rename_all(g, h, plan_fn):
    """Plan ``g``, then the same structure with other names in reverse dict order: same plan."""
    ids = {nid: f"n{k:02d}x" for k, nid in enumerate(reversed(sorted(g)))}
    fns = {fn: f"other.mod.g{k}" for k, fn in enumerate(sorted({n.function for n in g.values()}, reverse=True))}
    h2 = copy.deepcopy(h)
    h2.tasks = {(fns[fn], mb): b for (fn, mb), b in h.tasks.items()}
    first, second = plan_fn(g, h), plan_fn(renamed(g, ids, fns), h2)
    for nid, tp in first.tasks.items():
        other = second.tasks[ids[nid]]
        assert (other.worker, other.memory_mb, other.startup) == (tp.worker, tp.memory_mb, tp.startup), nid
        assert other.start_s == pytest.approx(tp.start_s) and other.end_s == pytest.approx(tp.end_s), nid
    assert second.critical_path == [ids[n] for n in first.critical_path]
    assert second.predicted_makespan_s == pytest.approx(first.predicted_makespan_s)
    return first


def workers_of(plan: Plan) -> dict[str, set[str]]:
    return {w: set(t) for w, t in plan.workers().items()}


# --- uniform --------------------------------------------------------------------------------


def test_chain_stays_on_one_worker_with_data_in_memory():
    """a → b → c: one worker, one cold start, nothing uploaded but the result."""
    g = graph({"a": ("m.f", []), "b": ("m.g", ["a"]), "c": ("m.h", ["b"])})
    h = history(same_everywhere(["m.f", "m.g", "m.h"], 0.2))
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h))
    assert not plan.fallback and plan.planner == "uniform"
    assert workers_of(plan) == {"w0": {"a", "b", "c"}}
    a, b, c = (plan.tasks[n] for n in "abc")
    assert (a.startup, b.startup, c.startup) == ("new", "none", "none")  # no process yet: the pool spawns one
    assert a.startup_s == pytest.approx(0.5)
    assert (a.upload, b.upload, c.upload) == (False, False, True)
    assert b.download_s == 0 and c.download_s == 0
    # Times add up: start-up 0.5, then 3 × (0.2 exec), the sink stores its result (0.001).
    assert a.start_s == pytest.approx(0.5) and b.start_s == pytest.approx(0.7)
    assert c.end_s == pytest.approx(0.5 + 0.6 + 0.001)
    assert plan.critical_path == ["a", "b", "c"]
    assert plan.predicted_makespan_s == pytest.approx(c.end_s)  # no spread: Monte Carlo = point
    assert plan.predicted_makespan_per_task_s == pytest.approx(c.end_s)
    assert all(tp.memory_mb == 2048 for tp in plan.tasks.values())
    # Cost: one worker of 2 GB busy 0.601 s plus the billed part of its cold start (0.25 s).
    assert plan.predicted_gb_seconds == pytest.approx(2 * (0.601 + 0.25))


def test_fan_out_of_short_children_keeps_three_on_the_parent_and_groups_the_rest():
    """
              p
       / / /  |  \\ \\ \\
      c0 c1 c2 c3 c4 c5 c6      short: 0.01 s each, far below a 0.5 s cold start
       \\ \\ \\  |  / / /
              s
    """
    edges = {"p": ("m.p", [])}
    edges.update({f"c{k}": ("m.c", ["p"]) for k in range(7)})
    edges["s"] = ("m.s", [f"c{k}" for k in range(7)])
    g = graph(edges)
    h = history(same_everywhere(["m.p", "m.c", "m.s"], 0.01))
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h))
    groups = workers_of(plan)
    assert len(groups) == 3
    parent = next(t for t in groups.values() if "p" in t)
    assert len(parent - {"p", "s"}) == 3  # the critical child and two more stay on p's worker
    others = sorted(len(t - {"s"}) for t in groups.values() if "p" not in t)
    assert others == [1, 3]  # then groups of three short ones


def test_fan_out_of_long_chains_runs_them_in_parallel():
    """
            o
         /  |  \\
       s1  s2  s3      each step sleeps 1 s — far longer than a 0.5 s start-up,
       |    |   |      so no chain waits behind another on one worker
       t1  t2  t3
         \\  |  /
           j
    """
    edges = {"o": ("m.o", [])}
    for k in (1, 2, 3):
        edges[f"s{k}"] = ("m.step", ["o"])
        edges[f"t{k}"] = ("m.step", [f"s{k}"])
    edges["j"] = ("m.join", ["t1", "t2", "t3"])
    g = graph(edges)
    h = history({**same_everywhere(["m.o", "m.join"], 0.001), **same_everywhere(["m.step"], 1.0)})
    # The assignment rules' layout (the guard against WUKONG is off: its flexible run is as fast here).
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h, compare_flexible=False))
    groups = workers_of(plan)
    chains = [{f"s{k}", f"t{k}"} for k in (1, 2, 3)]
    assert sum(any(c <= t for t in groups.values()) for c in chains) == 3  # each chain on one worker
    assert len(groups) == 3  # ... and each on its own
    # Parallel: start-ups (spawned one after another, 0.5 s each) + 2 s, not 6 s.
    assert plan.predicted_makespan_s < 4.0


def test_fan_in_on_the_critical_path_joins_its_critical_upstream():
    """
    a     b        a: 0.6 s and a big output; b: 2 s (the critical one)
     \\   /        both long enough to get a worker each
       c
    """
    g = graph({"a": ("m.a", []), "b": ("m.b", []), "c": ("m.c", ["a", "b"])})
    h = history(
        {**same_everywhere(["m.a"], 0.6), **same_everywhere(["m.b"], 2.0), **same_everywhere(["m.c"], 0.01)},
        out_bytes=1000,
    )
    h.tasks[("m.a", 2048)][0] = h.tasks[("m.a", 2048)][0].__class__(0, 0.6, 10_000_000)
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h, sla="p50"))
    assert plan.tasks["a"].worker != plan.tasks["b"].worker
    assert plan.tasks["c"].worker == plan.tasks["b"].worker
    assert plan.critical_path == ["b", "c"]


def test_fan_in_off_the_critical_path_joins_the_biggest_outputs():
    """
      a     b          a: 0.6 s with 5 MB out; b: 0.6 s with 1 KB out
       \\   / \\
         c    d        d: 3 s, so the critical path is b → d → e, not through c
          \\  /
            e
    """
    g = graph(
        {"a": ("m.a", []), "b": ("m.b", []), "c": ("m.c", ["a", "b"]), "d": ("m.d", ["b"]), "e": ("m.e", ["c", "d"])}
    )
    h = history(
        {
            **same_everywhere(["m.a", "m.b"], 0.6),
            **same_everywhere(["m.d"], 3.0),
            **same_everywhere(["m.c", "m.e"], 0.01),
        },
        out_bytes=1000,
    )
    for mb in OPTIONS:
        h.tasks[("m.a", mb)].clear()
        for _ in range(8):
            h.add_task("m.a", mb, h.tasks[("m.b", mb)][0].__class__(0, 0.6, 5_000_000))
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h, sla="p50"))
    assert plan.tasks["d"].worker == plan.tasks["b"].worker  # b's critical child stays with it
    assert plan.tasks["c"].worker == plan.tasks["a"].worker != plan.tasks["b"].worker
    assert "c" not in plan.critical_path and plan.critical_path[-2:] == ["d", "e"]


def test_siblings_with_the_same_upstreams_are_spread_like_a_fan_out():
    """
      i       r          BWA's shape: every alignment aK reads the index i and the reads r;
     /|\\     /|\\         each takes 1 s — longer than a 0.5 s start-up — so they run in parallel
    a0 a1 ... a5         (grouped as a fan-out's children), not one after another on the worker
      \\ | /             of the bigger upstream, as a fan-in's rule alone would put all of them
        m
    """
    edges = {"i": ("m.index", []), "r": ("m.reads", [])}
    edges.update({f"a{k}": ("m.align", ["i", "r"]) for k in range(6)})
    edges["m"] = ("m.merge", [f"a{k}" for k in range(6)])
    g = graph(edges)
    h = history({**same_everywhere(["m.index", "m.reads", "m.merge"], 0.01), **same_everywhere(["m.align"], 1.0)})
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h, compare_flexible=False))
    aligns = [plan.tasks[f"a{k}"].worker for k in range(6)]
    assert len(set(aligns)) == 6  # long siblings: one worker each (the critical one stays home)
    assert len(set(aligns) & {plan.tasks["i"].worker, plan.tasks["r"].worker}) == 1  # one stays home
    assert plan.predicted_makespan_s < 5.0  # in parallel (start-ups one after another), not 6 s in a row


def test_short_siblings_with_the_same_upstreams_are_grouped_in_threes():
    """As above with 0.01 s alignments: three stay home, the rest go three to a worker."""
    edges = {"i": ("m.index", []), "r": ("m.reads", [])}
    edges.update({f"a{k}": ("m.align", ["i", "r"]) for k in range(9)})
    edges["m"] = ("m.merge", [f"a{k}" for k in range(9)])
    g = graph(edges)
    h = history(same_everywhere(["m.index", "m.reads", "m.merge", "m.align"], 0.01))
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h, compare_flexible=False))
    by_worker: dict[str, int] = {}
    for k in range(9):
        w = plan.tasks[f"a{k}"].worker
        by_worker[w] = by_worker.get(w, 0) + 1
    assert sorted(by_worker.values()) == [3, 3, 3]
    homes = {plan.tasks["i"].worker, plan.tasks["r"].worker}
    assert sum(w in homes for w in by_worker) == 1  # one group stays with an upstream


def test_a_fan_out_keeps_no_more_workers_busy_than_the_cores():
    """The 1 s alignments above, 12 of them, on 2 cores: parallel branches beyond the cores only share
    them (and each costs a start-up), so they are dealt onto the home worker and one more, 6 each."""
    edges = {"i": ("m.index", []), "r": ("m.reads", [])}
    edges.update({f"a{k}": ("m.align", ["i", "r"]) for k in range(12)})
    edges["m"] = ("m.merge", [f"a{k}" for k in range(12)])
    g = graph(edges)
    h = history({**same_everywhere(["m.index", "m.reads", "m.merge"], 0.01), **same_everywhere(["m.align"], 1.0)})
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h, compare_flexible=False, cores=2.0))
    by_worker: dict[str, int] = {}
    for k in range(12):
        w = plan.tasks[f"a{k}"].worker
        by_worker[w] = by_worker.get(w, 0) + 1
    assert sorted(by_worker.values()) == [6, 6]
    assert len(set(by_worker) & {plan.tasks["i"].worker, plan.tasks["r"].worker}) == 1
    unbounded = plan_with("uniform", g, h, compare_flexible=False)  # no cores known (FaaS): one each
    assert len({unbounded.tasks[f"a{k}"].worker for k in range(12)}) == 12


def test_diamond_of_short_tasks_is_one_worker():
    """
       s
      / \\
     l   r
      \\ /
       j
    """
    g = graph({"s": ("m.s", []), "l": ("m.l", ["s"]), "r": ("m.r", ["s"]), "j": ("m.j", ["l", "r"])})
    h = history(same_everywhere(["m.s", "m.l", "m.r", "m.j"], 0.02))
    plan = rename_all(g, h, lambda g, h: plan_with("uniform", g, h))
    assert workers_of(plan) == {"w0": {"s", "l", "r", "j"}}
    assert plan.tasks["j"].download_s == 0 and not plan.tasks["l"].upload


def test_plans_do_not_mutate_the_graph_and_round_trip_as_json():
    g = graph({"s": ("m.s", []), "l": ("m.l", ["s"]), "r": ("m.r", ["s"]), "j": ("m.j", ["l", "r"])})
    before = copy.deepcopy(g)
    plan = plan_with("non-uniform", g, history(same_everywhere(["m.s", "m.l", "m.r", "m.j"], 0.3)))
    assert g == before
    again = Plan.from_dict(plan.to_dict())
    assert again.to_dict() == plan.to_dict()
    compact = plan.compact(g)
    assert compact["s"]["n"] == 1 and "n" not in compact["j"] and compact["j"]["w"] == plan.tasks["j"].worker


# --- fallbacks and names -------------------------------------------------------------------


def test_no_history_falls_back_to_flexible_workers_and_says_so():
    g = graph({"a": ("m.f", []), "b": ("m.g", ["a"])})
    for name, mb in (("uniform", 2048), ("non-uniform", 1024), ("uniform-opt", 2048), ("non-uniform-opt", 1024)):
        plan = planning.get(name)(g, Predictor(None), config(name))
        assert plan.fallback and "no history" in plan.note and f"{mb} MB" in plan.note
        assert {tp.worker for tp in plan.tasks.values()} == {None}
        assert {tp.memory_mb for tp in plan.tasks.values()} == {mb}


def test_a_function_without_history_falls_back_naming_it():
    g = graph({"a": ("m.f", []), "b": ("m.new", ["a"])})
    plan = plan_with("uniform", g, history(same_everywhere(["m.f"], 0.1)))
    assert plan.fallback and "m.new" in plan.note


def test_opt_names_map_to_the_same_planners():
    assert planning.get("uniform-opt") is uniform.plan and planning.get("non-uniform-opt") is nonuniform.plan
    assert planning.get("wukong-opt") is wukong.plan
    assert "non-uniform-opt" in planning.names()
    with pytest.raises(planning.PlannerError, match="unknown planner 'fast'"):
        planning.get("fast")


# --- non-uniform -----------------------------------------------------------------------------


def two_branches(short_at_512: float):
    r"""
           o
          / \
         L   S       L: 1 s at 2048 MB, 4 s at 512 (CPU bound): the critical path
          \ /       S: 0.5 s at 2048 MB, 0.8 s at 1024, ``short_at_512`` at 512
           j
    """
    g = graph({"o": ("m.o", []), "L": ("m.L", ["o"]), "S": ("m.S", ["o"]), "j": ("m.j", ["L", "S"])})
    h = history(
        {
            **same_everywhere(["m.o", "m.j"], 0.01),
            "m.L": {512: 4.0, 1024: 2.0, 2048: 1.0},
            "m.S": {512: short_at_512, 1024: 0.8, 2048: 0.5},
        },
        cold_s=0.05,
        warm_s=0.005,
    )
    return g, h


def test_non_uniform_downgrades_off_the_critical_path_and_keeps_a_cpu_bound_critical_worker():
    g, h = two_branches(short_at_512=0.6)
    plan = rename_all(g, h, lambda g, h: plan_with("non-uniform", g, h, sla="p50"))
    base = plan_with("uniform", g, h, sla="p50")
    assert plan.tasks["S"].worker != plan.tasks["L"].worker
    assert plan.tasks["S"].memory_mb == 512  # the cheapest that keeps the deadline
    assert plan.tasks["L"].memory_mb == 2048 and "L" in plan.critical_path
    assert plan.predicted_gb_seconds < base.predicted_gb_seconds
    assert plan.predicted_makespan_s == pytest.approx(base.predicted_makespan_s)
    assert "downgraded" in plan.note


def test_non_uniform_downgrades_a_critical_worker_that_only_waits():
    r"""A chain of sleeps (0.5 s at any size) and a CPU-bound side task:

        s1 (sleep)   c (CPU: 0.1 s at 2048 MB, 0.4 s at 512)
         |            \
        s2 (sleep)     |
          \           /
             j

    The sleeping chain is the critical path, yet as fast on 512 MB as on 2048: it is downgraded.
    """
    g = graph({"s1": ("m.sleep1", []), "s2": ("m.sleep2", ["s1"]), "c": ("m.cpu", []), "j": ("m.j", ["s2", "c"])})
    h = history(
        {
            **same_everywhere(["m.sleep1", "m.sleep2"], 0.5),
            **same_everywhere(["m.j"], 0.01),
            "m.cpu": {512: 0.4, 1024: 0.2, 2048: 0.1},
        },
        cold_s=0.05,
        warm_s=0.005,
    )
    plan = rename_all(g, h, lambda g, h: plan_with("non-uniform", g, h, sla="p50"))
    base = plan_with("uniform", g, h, sla="p50")
    assert "s2" in plan.critical_path and plan.tasks["s1"].memory_mb == plan.tasks["s2"].memory_mb == 512
    assert plan.predicted_gb_seconds < 0.5 * base.predicted_gb_seconds
    assert plan.predicted_makespan_s <= base.predicted_makespan_s * 1.05
    assert "on it downgraded" in plan.note


def test_non_uniform_downgrade_respects_the_tolerance():
    """L's path ends at 1.061 s and the run at 1.073 s; S starts at 0.111 s and needs 2 ms of
    transfers. At 512 MB S takes 0.98 s: the run ends 3 % later — taken with a 5 % tolerance,
    refused with none (1024 MB fits and is cheaper than 2048). At 1.04 s (+8.6 %): refused."""
    g, h = two_branches(short_at_512=0.98)
    loose = plan_with("non-uniform", g, h, sla="p50", tolerance=0.05)
    tight = plan_with("non-uniform", g, h, sla="p50", tolerance=0.0)
    base = plan_with("uniform", g, h, sla="p50")
    assert base.predicted_makespan_s == pytest.approx(1.073)
    assert loose.tasks["S"].memory_mb == 512
    # j now waits 32 ms for S: rather than hold 2 GB meanwhile, L's worker yields and restarts warm
    # (5 ms) for j — 5 ms more, still within 5 % of the baseline.
    assert loose.tasks["j"].startup == "warm" and loose.compact(g)["j"]["n"] == 1
    assert loose.predicted_makespan_s == pytest.approx(1.105 + 0.005)
    assert "1 long wait(s) yielded" in loose.note
    assert tight.tasks["S"].memory_mb == 1024
    assert tight.predicted_makespan_s == pytest.approx(base.predicted_makespan_s)
    too_slow = plan_with("non-uniform", *two_branches(short_at_512=1.04), sla="p50", tolerance=0.05)
    assert too_slow.tasks["S"].memory_mb == 1024


def test_non_uniform_upgrades_a_critical_worker_when_cost_times_time_drops():
    """A chain on the critical path at 512 MB, four times faster at 2048: upgrade it."""
    g = graph({"a": ("m.a", []), "b": ("m.b", ["a"])})
    h = history({"m.a": {512: 2.0, 1024: 1.0, 2048: 0.5}, "m.b": {512: 2.0, 1024: 1.0, 2048: 0.5}})
    s = Planning(g, Predictor(h), config("non-uniform", sla="p50"))
    worker = [0, 0]
    ev = s.evaluate(worker, [512])
    ev2, upgraded = nonuniform._upgrade_critical(s, worker, [512], ev, list(OPTIONS))
    assert upgraded == 1 and ev2.worker_memory == [2048]
    assert ev2.promise < ev.promise


def test_non_uniform_never_plans_more_cost_than_the_all_largest_baseline():
    from experiments.benchdata import random_dag, synthetic_history

    g = random_dag(200, seed=3)
    h = synthetic_history(seed=3)
    for pool in (None, 2):
        nu = plan_with("non-uniform", g, h, pool_size=pool)
        un = plan_with("uniform", g, h, pool_size=pool)
        assert nu.predicted_gb_seconds <= un.predicted_gb_seconds + 1e-9
        assert nu.predicted_makespan_s <= un.predicted_makespan_s * 1.05 + 1e-9


def test_slack_screening_for_large_dags_makes_the_same_choices(monkeypatch):
    """Above the full-simulation budget, downgrades are screened on the timeline's slack."""
    g, h = two_branches(short_at_512=0.6)
    full = plan_with("non-uniform", g, h, sla="p50")
    monkeypatch.setattr(nonuniform, "FULL_SIMULATION_BUDGET", 0)
    screened = plan_with("non-uniform", g, h, sla="p50")
    assert screened.tasks["S"].memory_mb == full.tasks["S"].memory_mb == 512
    assert screened.tasks["L"].memory_mb == 2048
    # Too slow for the deadline at 512 and 1024 (L's path ends at 1.061 s): S stays at 2048.
    g, h = two_branches(short_at_512=3.0)
    h.tasks[("m.S", 1024)].clear()
    for _ in range(8):
        h.add_task("m.S", 1024, h.tasks[("m.S", 2048)][0].__class__(0, 2.0, 100))
    assert plan_with("non-uniform", g, h, sla="p50").tasks["S"].memory_mb == 2048


def test_a_mapped_node_is_planned_as_rounds_of_its_element_tasks_by_the_width_seen_before():
    from orchestrator.core.graph import Node, Ref
    from orchestrator.planning.predictor import Predictor
    from tests.planning_support import config, history, same_everywhere

    g = {
        "s": Node("s", "m.split", args=(3,)),
        "p": Node("p", "m.work", args=(Ref("s"),), options={"map": "s"}),
        "g": Node("g", "m.total", args=(Ref("p"),)),
    }
    h = history(same_everywhere({"m.split", "m.work", "m.total"}, 1.0))
    narrow = planning.get("uniform")(g, Predictor(h), config("uniform"))
    h.map_widths, h.map_executors = {"p": 20}, 8  # 20 elements, 8 at a time: 3 rounds of one
    wide = planning.get("uniform")(g, Predictor(h), config("uniform"))
    assert wide.tasks["p"].exec_s == pytest.approx(3 * narrow.tasks["p"].exec_s)
    assert wide.predicted_median_s > narrow.predicted_median_s + 1.5


def test_with_big_outputs_mapped_on_one_host_the_planners_stop_serialising_work_to_avoid_transfers():
    r"""
         r            50 MB outputs, 0.8 s tasks. Through Redis a 50 MB fetch costs 1 s: three children stay
      / | | \         on r's worker (starting another worker and fetching costs more than their work);
    c0 c1 c2 c3       mapped on the same host (the store's shared-memory tier) it costs 10 ms: each child
      \ | | /         that is not r's critical one runs on a worker of its own, in parallel.
         s
    """
    g = graph(
        {"r": ("m.r", []), **{f"c{i}": ("m.c", ["r"]) for i in range(4)}, "s": ("m.s", [f"c{i}" for i in range(4)])}
    )

    def workers(shm: bool, planner: str) -> set:
        h = history(same_everywhere(["m.r", "m.c", "m.s"], 0.8), out_bytes=50 * MB, transfer_s=1.0)
        if shm:
            h.shm_min_bytes = 64 << 10
            for mb in OPTIONS:
                for _ in range(8):
                    h.add_tiered("maps", mb, TransferSample(50 * MB, 0.01))
                    h.add_tiered("shm_writes", mb, TransferSample(50 * MB, 0.025))
        plan = planning.get(planner)(g, Predictor(h), config(planner, compare_flexible=False))  # the rules' layout
        return {plan.tasks[f"c{i}"].worker for i in range(4)}

    for planner in ("uniform", "non-uniform"):
        assert len(workers(False, planner)) == 2, planner
        assert len(workers(True, planner)) == 4, planner
