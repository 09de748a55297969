"""The optimizations' planning rules on small graphs drawn in ASCII (pure: plain plans, synthetic history)."""

import pytest

from orchestrator import optimizations, planning
from orchestrator.core import options, startup
from orchestrator.core.graph import Node, Ref
from orchestrator.optimizations.preload import rule as preload
from orchestrator.optimizations.prewarm import rule as prewarm
from orchestrator.optimizations.taskdup import rule as taskdup
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample
from orchestrator.planning.plan import Plan, TaskPlan
from orchestrator.planning.predictor import Predictor
from tests.planning_support import OPTIONS, config, graph, history, same_everywhere

MB = 1 << 20


def plain_plan(layout: dict[str, str | None], **timing) -> Plan:
    """node → logical worker; ``timing``: node → dict of TaskPlan fields."""
    return Plan(
        planner="uniform",
        sla="p90",
        tasks={nid: TaskPlan(nid, 2048, worker=w, **timing.get(nid, {})) for nid, w in layout.items()},
    )


def test_the_optimizations_a_task_may_force_are_the_modules():
    assert options.OPTIMIZATIONS == optimizations.NAMES == ("preload", "prewarm", "taskdup", "clustering", "streaming")
    assert optimizations.for_planner("uniform-opt") == ("preload", "prewarm", "taskdup", "streaming")
    assert optimizations.for_planner("non-uniform-opt") == ("preload", "prewarm", "taskdup", "streaming")
    assert optimizations.for_planner("wukong-opt") == ("clustering", "streaming")
    assert optimizations.for_planner("uniform") == () and optimizations.for_planner("wukong") == ()
    with pytest.raises(options.OptionError, match=r"unknown optimization\(s\) 'prefetch' \(known: preload"):
        options.check({"optimizations": ["prefetch"]}, "@task m.f")


# --- PreLoad ------------------------------------------------------------------------------------


FAN_IN = graph(
    {"o": ("m.o", []), "a": ("m.p", ["o"]), "b": ("m.p", ["o"]), "c": ("m.p", ["o"]), "j": ("m.j", ["a", "b", "c"])}
)


def test_preload_marks_a_fan_in_with_two_or_more_inputs_from_other_workers():
    r"""
            o:w0
          /  |   \
       a:w0 b:w1 c:w2
          \  |   /
            j:w0         j's inputs b and c come from other workers: preload them
    """
    plan = plain_plan({"o": "w0", "a": "w0", "b": "w1", "c": "w2", "j": "w0"})
    assert preload.annotate(plan, FAN_IN, None, {}) == {"j": {"inputs": ["b", "c"]}}
    # With only one input from elsewhere there is nothing to overlap; a higher bar is a parameter.
    plan = plain_plan({"o": "w0", "a": "w0", "b": "w0", "c": "w2", "j": "w0"})
    assert preload.annotate(plan, FAN_IN, None, {}) == {}
    plan = plain_plan({"o": "w0", "a": "w1", "b": "w2", "c": "w3", "j": "w0"})
    assert preload.annotate(plan, FAN_IN, None, {"min_inputs": 4}) == {}
    # Flexible tasks: a branch does not know them when it starts.
    plan = plain_plan({nid: None for nid in FAN_IN})
    assert preload.annotate(plan, FAN_IN, None, {}) == {}


def test_preload_leaves_fan_ins_whose_downloads_are_too_short_to_overlap():
    r"""
    The same fan-in, j's inputs b and c predicted at 5 ms each to download (history: 1 MB in
    5 ms): 10 ms together, under a 20 ms bar — not worth a thread; at 1 MB in 50 ms, they are.
    """
    layout = {"o": "w0", "a": "w0", "b": "w1", "c": "w2", "j": "w0"}
    sizes = {nid: {"output_bytes": MB} for nid in layout}
    fast = Predictor(history(same_everywhere(["m.o", "m.p", "m.j"], 0.1), out_bytes=MB, transfer_s=0.005))
    slow = Predictor(history(same_everywhere(["m.o", "m.p", "m.j"], 0.1), out_bytes=MB, transfer_s=0.05))
    assert preload.annotate(plain_plan(layout, **sizes), FAN_IN, fast, {"min_download_s": 0.02}) == {}
    assert preload.annotate(plain_plan(layout, **sizes), FAN_IN, slow, {"min_download_s": 0.02}) == {
        "j": {"inputs": ["b", "c"]}
    }


# --- PreWarm ------------------------------------------------------------------------------------


def test_prewarm_pings_a_cold_branch_from_a_task_running_at_the_chosen_moment():
    r"""
        o:w0 ── long:w0 (0.1 s … 12 s) ── s:w1 (starts at 10 s, cold: 0.5 s start-up)

    dispatch = 10 − 0.5 = 9.5; the window ends 0.5 s (latency) + 0.5 s (start-up) before it,
    at 8.5, and begins 7 s (keep-alive) − 0.5 s before it, at 3.0: the ping goes 0.75 of the
    way through, at 7.125 s, from ``long`` (running then on another worker).
    """
    g = graph({"o": ("m.o", []), "long": ("m.l", ["o"]), "s": ("m.s", ["long"])})
    plan = plain_plan(
        {"o": "w0", "long": "w0", "s": "w1"},
        o={"start_s": 0.0, "end_s": 0.1, "startup": "cold", "startup_s": 0.5},
        long={"start_s": 0.1, "end_s": 12.0},
        s={"start_s": 10.0, "end_s": 11.0, "startup": "cold", "startup_s": 0.5},
    )
    got = prewarm.annotate(plan, g, None, {"latency_s": 0.5, "preference": 0.75, "window_s": 7.0})
    assert list(got) == ["s"]
    assert got["s"]["sender"] == "long" and got["s"]["send_at_s"] == pytest.approx(7.125)
    assert (got["s"]["memory_mb"], got["s"]["worker"]) == (2048, "w1")


def test_prewarm_leaves_warm_branches_and_those_needed_at_once():
    g = graph({"o": ("m.o", []), "s": ("m.s", ["o"])})
    warm = plain_plan(
        {"o": "w0", "s": "w1"},
        o={"start_s": 0.0, "end_s": 9.0},
        s={"start_s": 10.0, "end_s": 11.0, "startup": "warm", "startup_s": 0.01},
    )
    assert prewarm.annotate(warm, g, None, {}) == {}
    early = plain_plan(
        {"o": "w0", "s": "w1"},
        o={"start_s": 0.0, "end_s": 0.2},
        s={"start_s": 0.7, "end_s": 1.0, "startup": "cold", "startup_s": 0.5},
    )
    assert prewarm.annotate(early, g, None, {}) == {}  # nothing runs early enough to send it


def test_the_plan_tells_a_new_process_from_a_cold_one_and_prewarm_pings_both():
    """The plan keeps the planner's start-up kind (it used to fold ``new`` into ``cold``, so PreWarm's
    check for ``new`` could never be true): a branch on a process the pool must spawn is ``new``, on an
    existing process that has not served the workflow ``cold`` — and PreWarm pings either."""
    g = graph({"a": ("m.f", []), "b": ("m.g", ["a"])})
    h = history(same_everywhere(["m.f", "m.g"], 0.2))
    fresh = planning.get("uniform")(g, Predictor(h), config("uniform"))
    idle = planning.get("uniform")(g, Predictor(h), config("uniform", pool_processes=((2048, 2),)))
    assert (fresh.tasks["a"].startup, idle.tasks["a"].startup) == (startup.NEW, startup.COLD)
    g = graph({"o": ("m.o", []), "long": ("m.l", ["o"]), "s": ("m.s", ["long"])})
    for kind in (startup.NEW, startup.COLD):
        plan = plain_plan(
            {"o": "w0", "long": "w0", "s": "w1"},
            o={"start_s": 0.0, "end_s": 0.1},
            long={"start_s": 0.1, "end_s": 12.0},
            s={"start_s": 10.0, "end_s": 11.0, "startup": kind, "startup_s": 0.5},
        )
        assert list(prewarm.annotate(plan, g, None, {})) == ["s"], kind


# --- TaskDup ------------------------------------------------------------------------------------


def dup_history() -> History:
    """m.fast: 0.1 s, 4 MB out from tiny inputs; m.slow: 5 s; m.tiny: 0.1 s but 10-byte output."""
    h = History()
    for mb in OPTIONS:
        for _ in range(8):
            h.add_task("m.o", mb, TaskSample(0, 0.01, 10))
            h.add_task("m.fast", mb, TaskSample(10, 0.1, 4 * MB))
            h.add_task("m.slow", mb, TaskSample(10, 5.0, 4 * MB))
            h.add_task("m.tiny", mb, TaskSample(10, 0.1, 10))
            h.add_task("m.j", mb, TaskSample(12 * MB, 0.01, 10))
            for add in (h.add_download, h.add_upload, h.add_store):
                add(mb, TransferSample(4 * MB, 0.04))  # 100 MB/s
                add(mb, TransferSample(10, 0.001))
            for kind in ("new", "cold", "warm"):
                h.add_startup(mb, kind, StartupSample(0.1, 0.05))
    return h


def test_taskdup_offers_a_consumer_its_fast_small_input_big_output_upstreams_on_other_workers():
    r"""
              o:w0
        /    |     |     \
    f1:w1  f2:w0  s:w2  t:w3        f = m.fast, s = m.slow (5 s), t = m.tiny (10-byte output)
        \    |     |     /
              j:w0
    Only f1 qualifies: f2 is on j's own worker, s is too slow to redo, t's output is too small
    for a duplicate to save its transfer.
    """
    g = graph(
        {
            "o": ("m.o", []),
            "f1": ("m.fast", ["o"]),
            "f2": ("m.fast", ["o"]),
            "s": ("m.slow", ["o"]),
            "t": ("m.tiny", ["o"]),
            "j": ("m.j", ["f1", "f2", "s", "t"]),
        }
    )
    plan = plain_plan(
        {"o": "w0", "f1": "w1", "f2": "w0", "s": "w2", "t": "w3", "j": "w0"},
        **{n: {"input_bytes": 10, "output_bytes": 4 * MB} for n in ("f1", "f2", "s")},
        t={"input_bytes": 10, "output_bytes": 10},
    )
    got = taskdup.annotate(plan, g, Predictor(dup_history()), dict(taskdup.DEFAULTS))
    assert list(got) == ["j"] and list(got["j"]["candidates"]) == ["f1"]
    c = got["j"]["candidates"]["f1"]
    assert c["exec_s"] == pytest.approx(0.1) and c["exec_local_s"] == pytest.approx(0.1)
    assert c["upload_s"] == pytest.approx(0.04, rel=0.01) and c["download_s"] == pytest.approx(0.04, rel=0.01)
    assert c["download_local_s"] == pytest.approx(0.001)  # o's 10 bytes
    assert got["j"]["threshold_s"] == 0.15


CANDIDATE = {"exec_s": 0.1, "upload_s": 0.1, "download_s": 0.1, "exec_local_s": 0.1, "download_local_s": 0.0}


def test_decide_duplicates_an_upstream_that_has_not_begun_when_that_saves_its_transfer():
    # Not begun: expected at now + 0.1 + 0.1 + 0.1; here at now + 0.1: saves 0.2 > 0.15.
    assert taskdup.decide(100.0, {}, set(), {"u": CANDIDATE}, 0.15) == pytest.approx(("u", 0.2, 100.3))
    # A threshold above the saving, or a task already done: nothing.
    assert taskdup.decide(100.0, {}, set(), {"u": CANDIDATE}, 0.25) is None
    assert taskdup.decide(100.0, {}, {"u"}, {"u": CANDIDATE}, 0.15) is None
    # Begun 0.05 s ago and on time: expected at 100.25, here at 100.1 — saves 0.15, not more.
    assert taskdup.decide(100.0, {"u": 99.95}, set(), {"u": CANDIDATE}, 0.15) is None


def test_decide_duplicates_a_straggler_once_it_has_run_past_its_typical_time():
    # Running for 0.5 s, five times its typical 0.1 s: expected to run as long again (to 100.5), then
    # 0.2 s of transfers; here it would be ready at 100.1.
    choice = taskdup.decide(100.0, {"u": 99.5}, set(), {"u": CANDIDATE}, 0.15)
    assert choice[0] == "u" and choice[1] == pytest.approx(0.6) and choice[2] == pytest.approx(100.7)
    # Of two candidates, the larger saving wins.
    other = dict(CANDIDATE, exec_local_s=0.4)
    choice = taskdup.decide(100.0, {"u": 99.5, "v": 99.5}, set(), {"u": other, "v": CANDIDATE}, 0.15)
    assert choice[0] == "v"


# --- planners: the -opt variants, forced annotations, the timing model ---------------------------


def big_fan_in() -> tuple[dict, History]:
    r"""
           o
       /  / \  \
      p  p   p  p        p: 1 s of work, 32 MB out (long enough for a worker each)
       \  \ /  /
           j
    """
    g = graph(
        {"o": ("m.o", []), **{f"p{k}": ("m.p", ["o"]) for k in range(4)}, "j": ("m.j", [f"p{k}" for k in range(4)])}
    )
    h = history(
        same_everywhere(["m.o", "m.p", "m.j"], 1.0), out_bytes=32 * MB, transfer_s=0.3, cold_s=0.05, warm_s=0.005
    )
    return g, h


def test_a_duplicate_needs_a_core_the_run_leaves_free():
    """The run's running tasks (the straggler among them; the waiting consumer has not begun) against the
    cluster's cores."""
    assert not taskdup.cores_taken(running=1, cores=2)  # only the straggler: a core is free
    assert taskdup.cores_taken(running=2, cores=2)  # the straggler and another: a duplicate would slow them
    assert taskdup.cores_taken(running=9, cores=4.0) and not taskdup.cores_taken(running=3, cores=4.0)


def test_opt_planners_annotate_by_rule_and_plain_ones_do_not():
    g, h = big_fan_in()
    plain = planning.get("uniform")(g, Predictor(h), config("uniform"))
    assert all(not tp.annotations for tp in plain.tasks.values())
    opt = planning.get("uniform-opt")(g, Predictor(h), config("uniform-opt", optimizations=optimizations.NAMES))
    assert "preload" in opt.tasks["j"].annotations
    assert set(opt.tasks["j"].annotations["preload"]["inputs"]) == {
        u for u in ("p0", "p1", "p2", "p3") if opt.tasks[u].worker != opt.tasks["j"].worker
    }
    assert "PreLoad on 1 task(s)" in opt.note
    # The timing model overlaps the preloaded downloads with the worker's own work: a smaller promise.
    assert opt.predicted_makespan_s < plain.predicted_makespan_s
    assert opt.tasks["j"].download_s <= plain.tasks["j"].download_s


def test_every_planner_keeps_what_an_author_forced():
    g, h = big_fan_in()
    forced = dict(g)
    forced["j"] = Node("j", "m.j", args=tuple(Ref(f"p{k}") for k in range(4)), options={"optimizations": ["preload"]})
    for name in ("uniform", "non-uniform"):
        plan = planning.get(name)(forced, Predictor(h), config(name))
        assert plan.tasks["j"].annotations.get("preload"), name


def test_planners_get_the_rules_handed_in_and_say_so_when_none_were():
    """Planning sits below the rules layer: a planner applies only the rules its config carries
    (``PlannerConfig.rules``, ``planning.rules``), and asks for them loudly rather than plan without."""
    g, h = big_fan_in()
    with pytest.raises(ValueError, match="need the rules that apply them"):
        config("uniform-opt", optimizations=("preload",), rules=None)
    assert planning.get("uniform")(g, Predictor(h), config("uniform", rules=None)).tasks["j"].annotations == {}
    forced = dict(g)
    forced["j"] = Node("j", "m.j", args=tuple(Ref(f"p{k}") for k in range(4)), options={"optimizations": ["preload"]})
    with pytest.raises(ValueError, match="no rules were handed in"):
        planning.get("uniform")(forced, Predictor(h), config("uniform", rules=None))

    class OnlyPreload:  # any object with the two functions is a set of rules
        @staticmethod
        def annotate(plan, graph, predictor, *, names, params, flexible=False):
            return {"j": {"preload": {"inputs": ["p0"]}}}

        @staticmethod
        def summary(annotations):
            return "stub rules"

    plan = planning.get("uniform")(forced, Predictor(h), config("uniform", rules=OnlyPreload))
    assert plan.tasks["j"].annotations == {"preload": {"inputs": ["p0"]}} and "; stub rules" in plan.note


# --- Task clustering, streaming, and where a flexible run puts its tasks -------------------------------


BIG_FAN = graph(
    {
        "m": ("m.make", []),
        "s": ("m.side", []),
        "p0": ("m.part", ["m"]),
        "p1": ("m.part", ["m"]),
        "p2": ("m.part", ["m"]),
        "j": ("m.join", ["m", "s"]),
        "t": ("m.total", ["p0", "p1", "p2", "j"]),
    }
)


def test_clustering_marks_every_flexible_task_with_children_and_streaming_those_whose_consumers_are_elsewhere():
    r"""
        m      s           flexible (wukong-opt): every task with children is a clustering candidate
      / | \  /             (the runtime decides on the output's real size); under a planned layout,
    p0 p1 p2 j             streaming marks the tasks with a consumer on another worker
      \  \ | /
         t
    """
    flex = plain_plan({n: None for n in BIG_FAN})
    chosen = optimizations.annotate(
        flex,
        BIG_FAN,
        None,
        names=("clustering", "streaming", "preload"),
        params={"clustering": {"min_bytes": 5, "max_fanout": 3, "delay_s": 0.2}},
        flexible=True,
    )
    assert sorted(chosen) == ["j", "m", "p0", "p1", "p2", "s"]  # t has no children
    assert chosen["m"] == {
        "clustering": {"min_bytes": 5, "max_fanout": 3, "delay_s": 0.2},
        "streaming": {"min_bytes": 16 * MB, "chunk_bytes": MB},
    }  # preload: not for flexible
    planned = plain_plan({"m": "w0", "s": "w1", "p0": "w0", "p1": "w0", "p2": "w0", "j": "w1", "t": "w1"})
    marked = optimizations.annotate(planned, BIG_FAN, None, names=("streaming", "clustering"), params={})
    assert sorted(n for n, a in marked.items() if "streaming" in a) == ["m", "p0", "p1", "p2"]  # t is w1's
    assert not any("clustering" in a for a in marked.values())  # planned workers: nothing to cluster


def test_with_outputs_in_one_host_s_shared_memory_clustering_and_streaming_choose_nothing():
    """Re-judged on the store's tiers: a big output read on its own host costs ~0.2 ms/MB to map, so
    clustering (children serialised beside it), delayed I/O (a wait) and streaming (chunks through Redis)
    save nothing; on several hosts clustering chooses as before (a fetch costs), streaming still not (the
    fetch goes host to host, not through Redis); with the tier off both choose as before."""
    flex = plain_plan({n: None for n in BIG_FAN})
    names = ("clustering", "streaming")

    def chosen(**store):
        return optimizations.annotate(flex, BIG_FAN, Predictor(History(**store)), names=names, params={}, flexible=True)

    assert chosen(shm_min_bytes=64 << 10) == {}
    on_two_hosts = chosen(shm_min_bytes=64 << 10, hosts=2)
    assert sorted(on_two_hosts) == ["j", "m", "p0", "p1", "p2", "s"]
    assert not any("streaming" in a for a in on_two_hosts.values())
    off = chosen(shm_min_bytes=0)
    assert sorted(off) == ["j", "m", "p0", "p1", "p2", "s"] and all(set(a) == set(names) for a in off.values())
    # Outputs at clustering's size still in Redis (a threshold above it): clustering chooses them.
    assert sorted(chosen(shm_min_bytes=4 << 20)) == ["j", "m", "p0", "p1", "p2", "s"]
    # Without history the settings, given with the rules' parameters, say the same.
    tiers = {"shm_min_bytes": 64 << 10, "hosts": 1}
    assert (
        optimizations.annotate(
            flex, BIG_FAN, None, names=names, flexible=True, params={"clustering": tiers, "streaming": tiers}
        )
        == {}
    )
    marked = optimizations.annotate(
        flex,
        BIG_FAN,
        None,
        names=names,
        flexible=True,
        params={"clustering": {**tiers, "hosts": 2}, "streaming": {**tiers, "hosts": 2}},
    )
    assert all(set(a) == {"clustering"} for a in marked.values()) and len(marked) == 6
    assert "shm_min_bytes" not in marked["m"]["clustering"]  # judged by, not carried to the workers


def test_the_timing_model_prices_each_tier_from_its_own_samples():
    h = History(shm_min_bytes=64 << 10)
    for _ in range(6):
        h.add_download(2048, TransferSample(8 * MB, 0.08))  # Redis: 10 ms/MB
        h.add_tiered("maps", 2048, TransferSample(8 * MB, 0.0016))  # mapped: 0.2 ms/MB
        h.add_upload(2048, TransferSample(8 * MB, 0.08))
        h.add_tiered("shm_writes", 2048, TransferSample(8 * MB, 0.004))
    p = Predictor(h)
    assert p.transfer_time("download", 8 * MB, 2048, "p50") == pytest.approx(0.0016, rel=0.01)
    assert p.transfer_time("upload", 8 * MB, 2048, "p50") == pytest.approx(0.004, rel=0.01)
    assert p.transfer_time("download", 32 << 10, 2048, "p50") > 0.0016 * (32 << 10) / (8 * MB)  # Redis below
    on_two = Predictor(History(shm_min_bytes=64 << 10, hosts=2))  # no fetch measured yet: its default
    assert on_two.transfer_time("download", 8 * MB, 2048, "p50") > p.transfer_time("download", 8 * MB, 2048, "p50")
    off = Predictor(History(shm_min_bytes=0, downloads=h.downloads))
    assert off.transfer_time("download", 8 * MB, 2048, "p50") == pytest.approx(0.08, rel=0.01)
    with pytest.raises(ValueError, match="tier table must be one of"):
        h.add_tiered("downloads", 2048, TransferSample(1, 0.1))


def test_on_several_hosts_a_big_input_is_priced_by_the_share_of_readers_on_its_host():
    """Mapped where it was made (0.2 ms/MB) or fetched from another host (2 ms/MB): with the workers on two
    hosts the price follows how often past readers were on the output's host, one in two before any was seen."""

    def predictor(local_reads):
        h = History(shm_min_bytes=64 << 10, hosts=2, local_reads=local_reads)
        for _ in range(6):
            h.add_tiered("maps", 2048, TransferSample(8 * MB, 0.0016))
            h.add_tiered("fetches", 2048, TransferSample(8 * MB, 0.016))
        return Predictor(h)

    assert predictor(1.0).transfer_time("download", 8 * MB, 2048, "p90") == pytest.approx(0.0016, rel=0.01)
    assert predictor(0.0).transfer_time("download", 8 * MB, 2048, "p50") == pytest.approx(0.016, rel=0.01)
    mostly_local = predictor(0.8)
    assert mostly_local.transfer_time("download", 8 * MB, 2048, "average") == pytest.approx(
        0.8 * 0.0016 + 0.2 * 0.016, rel=0.01
    )
    assert mostly_local.transfer_time("download", 8 * MB, 2048, "p50") == pytest.approx(0.0016, rel=0.01)
    assert mostly_local.transfer_time("download", 8 * MB, 2048, "p90") == pytest.approx(0.016, rel=0.01)
    unseen = predictor(None)
    assert unseen.local_share() == 0.5
    assert unseen.transfer_time("download", 8 * MB, 2048, "average") == pytest.approx((0.0016 + 0.016) / 2, rel=0.01)
    assert len(unseen.transfer_draws("download", 8 * MB, 2048)) == 100
    # Below the threshold the read goes through Redis whatever the hosts.
    assert unseen.tier_kind("download", 32 << 10) == "download"


def test_a_flexible_run_keeps_one_child_per_finished_task_and_clusters_a_big_output_s_children():
    r"""
        m      s          m: 10 bytes out, s: 1; each task 1 s (s: 1.2 s); two executors
      / | \  /
    p0 p1 p2 j            plain WUKONG: m's executor keeps p0, the others queue for whoever is free;
      \  \ | /            clustering (≥ 5 bytes, fan-out ≤ 4): p0 p1 p2 beside m, and j too when m
         t                waits for s (delayed I/O, 0.5 s), not when it waits less than s takes
         t
    """
    from orchestrator.planning import flexible
    from orchestrator.planning.dag import index

    dag = index(BIG_FAN)
    pos = {nid: i for i, nid in enumerate(dag.ids)}
    out = [10 if nid == "m" else 1 for nid in dag.ids]
    plain = flexible.place(dag, run_time=[1.0] * dag.n, output_bytes=out, executors=2)
    assert len({plain[pos[c]] for c in ("p0", "p1", "p2", "j")}) == 2  # spread over both executors
    run_time = [1.2 if nid == "s" else 1.0 for nid in dag.ids]  # s ends 0.2 s after m
    clustered = flexible.place(dag, run_time=run_time, output_bytes=out, executors=2, cluster_min_bytes=5, max_fanout=4)
    assert {clustered[pos[c]] for c in ("p0", "p1", "p2")} == {clustered[pos["m"]]}
    assert clustered[pos["j"]] == clustered[pos["s"]] != clustered[pos["m"]]  # j's last upstream runs it
    delayed = flexible.place(
        dag, run_time=run_time, output_bytes=out, executors=2, cluster_min_bytes=5, max_fanout=4, delay_s=0.5
    )  # m waits for s: j runs beside m's output too
    assert {delayed[pos[c]] for c in ("p0", "p1", "p2", "j")} == {delayed[pos["m"]]}
    too_short = flexible.place(
        dag, run_time=run_time, output_bytes=out, executors=2, cluster_min_bytes=5, max_fanout=4, delay_s=0.1
    )
    assert too_short[pos["j"]] == too_short[pos["s"]]
    with pytest.raises(ValueError, match="at least one executor"):
        flexible.place(dag, run_time=[1.0] * dag.n, output_bytes=out, executors=0)


def test_wukong_opt_promises_once_history_exists_and_records_where_it_simulated_each_task():
    g = BIG_FAN
    h = history(same_everywhere({n.function for n in g.values()}, 0.2), out_bytes=2 * MB)
    cfg = config(
        "wukong-opt",
        optimizations=("clustering",),
        pool_size=3,
        optimization_params={"clustering": {"min_bytes": MB, "max_fanout": 8, "delay_s": 0.5}},
    )
    plan = planning.get("wukong-opt")(g, Predictor(h), cfg)
    assert all(tp.worker is None for tp in plan.tasks.values())  # the runtime stays flexible
    assert plan.predicted_makespan_s and plan.predicted_median_s and "simulated executors" in plan.note
    assert {plan.tasks[c].sim_worker for c in ("p0", "p1", "p2")} == {plan.tasks["m"].sim_worker}
    without = planning.get("wukong-opt")(g, Predictor(History()), cfg)
    assert without.predicted_makespan_s is None and "no promise yet" in without.note
    plain = planning.get("wukong")(g, None, config("wukong"))
    assert plain.predicted_makespan_s is None and not any(tp.annotations for tp in plain.tasks.values())
