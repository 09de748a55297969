"""Optimizations on real workers: cancellation checks, TaskDup's lock, PreLoad, PreWarm."""

import hashlib
import json
import time

import numpy as np
import pytest

from orchestrator.core import graph as graph_mod
from orchestrator.core.authoring import build_graph
from orchestrator.models import TaskRun, WorkerStartup, WorkflowRun
from orchestrator.services.runs import SubmissionError, cancel_run
from slaflow import submit
from store import keys, pools
from tests import taskfns as t
from tests.waiting import until

pytestmark = [pytest.mark.integration]


def _stages(redis_server, tag: str) -> list[str]:
    return [x.decode() for x in redis_server.lrange(f"sf:test:stages:{tag}", 0, -1)]


def test_a_cancelled_run_s_tasks_do_none_of_their_remaining_stages(live, counts, redis_server):
    """A task that swallows the stop and returns anyway is stopped before its upload; its child
    never starts."""
    tag = f"probe-cancel-{time.time_ns()}"
    run = submit(t.inc(t.stubborn(1, seconds=1.5, tag=tag), tag=tag), name="cancel-stages")
    until(lambda: counts(tag) >= 1, timeout_s=60, what="the stubborn task running")
    assert cancel_run(run.id)
    until(
        lambda: not TaskRun.objects.filter(run_id=run.id, status__in=["pending", "running"]).exists(),
        timeout_s=30,
        what="the cancelled run's tasks settled",
    )
    seen = _stages(redis_server, tag)
    assert seen[:2] == ["before_inputs:stubborn-0", "before_execute:stubborn-0"]
    assert not any(s.startswith(("before_upload", "after_complete")) for s in seen), seen
    assert not any(s.endswith(":inc-0") for s in seen), seen
    assert counts(tag) == 1  # inc never ran (it would have counted too)
    stubborn = TaskRun.objects.get(run_id=run.id, node_id="stubborn-0")
    assert stubborn.status == "cancelled" and stubborn.uploaded is not True  # encoded, never stored


# --- TaskDup ---------------------------------------------------------------------------------------


def race_graph(tag: str, straggle_s: float):
    r"""
               o
          /    |    \
         a     s     b          a, b: 2 MB after 1.5 s; s: 1 MB after 0.8 s (straggling straggle_s
          \   / \   /           on its first execution)
           ca     cb            ca, cb wait for s on two other workers: both want to duplicate it
             \   /
             gather
    """
    root = t.value(7)
    s = t.blob(root, 1, seconds=0.8, straggle_s=straggle_s, tag=f"{tag}-s")
    a = t.payload(root, 2, seconds=1.5)  # more bytes than s: each consumer joins a's or b's worker
    b = t.payload(root, 2, seconds=1.5)
    return t.gather([t.digest(a, s, tag=f"{tag}-ca"), t.digest(b, s, tag=f"{tag}-cb")])


def test_two_workers_racing_to_duplicate_one_straggler_make_exactly_one_duplicate(
    live, counts, client, admin_user, settings
):
    # Three workers in parallel (s, a, b): the planner is told of three cores (on this host's two it deals a
    # fan-out onto no more workers than cores).
    settings.SLAFLOW_HOST_CORES = 3.0
    tag = f"race-{time.time_ns()}"
    for k in range(2):  # history without a straggler: s usually takes 0.8 s
        assert submit(race_graph(f"{tag}-h{k}", 0.0), name="dup-race", planner="uniform").result(timeout=60)
    sink = race_graph(tag, 8.0)
    run = submit(sink, name="dup-race", planner="uniform", optimizations=["taskdup"])
    result = run.result(timeout=60)
    expected = hashlib.sha256(np.random.default_rng(7).standard_normal((1 << 20) // 8).tobytes()).hexdigest()
    assert result == [expected, expected]  # both consumers got the same bytes, the right ones
    wr = WorkflowRun.objects.get(pk=run.id)
    plan = wr.plan.data["tasks"]
    s_id = "blob-0"
    assert len({plan[n]["worker"] for n in (s_id, "digest-0", "digest-1")}) == 3, plan
    assert wr.makespan_s < 8.0  # the straggler's 8 s were not waited for
    dups = wr.optimizations["taskdup"]
    # Both waiting workers want it (a and b end together, the duplicate takes 0.8 s) and the lock lets
    # one; the other usually asks while it runs (refused), or looks only after it finished. Either way:
    # one duplicate. (The lock itself: test_a_dup_lock_is_held_by_one_token_and_released_only_by_it.)
    assert (dups["dups"], dups["won"]) == (1, 1) and dups["refused"] in (0, 1), dups
    assert counts(f"{tag}-s") == 2  # the original and the one duplicate
    assert counts(f"{tag}-ca") == counts(f"{tag}-cb") == 1  # each consumer ran once
    s = TaskRun.objects.get(run_id=run.id, node_id=s_id)
    assert s.status == "succeeded" and s.optimizations["duplicated"]["predicted_saving_s"] > 0
    assert s.worker_id != plan[s_id]["worker"]  # the record is the duplicate's, on a waiting worker
    assert TaskRun.objects.filter(run_id=run.id).count() == len(build_graph(sink))
    # The run page says how many dups happened and where, and marks them on the DAG.
    client.force_login(admin_user)
    page = client.get(f"/runs/{run.id}/").content.decode()
    card = page[page.index('id="card-taskdup"') :]
    assert "1 / 1 won" in card[:400] and "on the DAG: blob-0" in card[:600]
    assert '"meta":"dups"' in page.replace(" ", "") and '"text":["dup"]' in page.replace(" ", "")


def test_a_dup_lock_is_held_by_one_token_and_released_only_by_it(redis_server):
    from orchestrator.optimizations.taskdup import runtime as taskdup
    from store import keys

    run_id = 980_000 + time.time_ns() % 10_000
    assert taskdup.acquire_lock(run_id, "s", "tok-a", 60_000)
    assert not taskdup.acquire_lock(run_id, "s", "tok-b", 60_000)  # one holder at a time
    assert not taskdup.release_lock(run_id, "s", "tok-b")  # not its lock to free
    assert redis_server.get(keys.dup_lock(run_id, "s")) == b"tok-a"
    assert taskdup.acquire_lock(run_id, "t", "tok-a", 60_000)
    assert taskdup.release_lock(run_id, "s", "tok-a")
    assert taskdup.acquire_lock(run_id, "s", "tok-b", 60_000)  # free again: the next one may take it
    assert taskdup.release_held() == 2  # what a shutting-down process still holds ("t", and "s" as tok-b)
    assert redis_server.exists(keys.dup_lock(run_id, "s"), keys.dup_lock(run_id, "t")) == 0


def test_unknown_optimizations_are_refused_before_anything_is_stored(live):
    before = WorkflowRun.objects.count()
    with pytest.raises(
        SubmissionError,
        match=r"unknown optimization\(s\) 'turbo' \(known: preload, prewarm, taskdup, "
        r"clustering, streaming\)",
    ):
        submit(t.inc(1), name="bad-opt", optimizations=["turbo"])
    with pytest.raises(SubmissionError, match="unknown optimization"):
        submit(t.inc(t.value.with_options(optimizations=["preload"])(1)), name="ok-opt", optimizations=["x"])
    with pytest.raises(TypeError, match=r"unknown optimization\(s\) 'fast'"):
        t.inc.with_options(optimizations=["fast"])
    assert WorkflowRun.objects.count() == before


# --- PreLoad ---------------------------------------------------------------------------------------


def test_preloaded_inputs_are_used_and_never_fetched_again(live, settings):
    r"""
             o
        /  /   \  \
       b0 b1   b2 b3        2 MB each after 0.6 s + 0.3 s·i: a worker each; the fan-in's worker
        \  \   /  /          fetches the others' outputs as they appear, while its own still runs
           gather
    """
    settings.SLAFLOW_PRELOAD_MIN_DOWNLOAD_S = 0.0  # 2 MB inputs download in ms here: preload them anyway
    root = t.value(3)
    sink = t.gather([t.blob(root, 2, seconds=0.6 + 0.3 * i) for i in range(4)])
    fan_in = build_graph(sink)
    for _ in range(2):
        submit(sink, name="preload-fan-in", planner="uniform").result(timeout=60)
    run = submit(sink, name="preload-fan-in", planner="uniform", optimizations=["preload"])
    values = run.result(timeout=60)
    assert [np.array_equal(v, np.random.default_rng(3).standard_normal((2 << 20) // 8)) for v in values] == [True] * 4
    # An 8 MB result is in hand before the run has ended (workers.results); its task rows are written as it ends.
    assert run.wait(timeout=60) == "succeeded"
    wr = WorkflowRun.objects.get(pk=run.id)
    fan_in_id = graph_mod.sink(fan_in)
    planned = wr.plan.data["tasks"][fan_in_id]["annotations"]["preload"]["inputs"]
    assert len(planned) >= 2
    rec = TaskRun.objects.get(run_id=run.id, node_id=fan_in_id)
    by_input = {}
    for entry in rec.inputs:
        by_input.setdefault(entry["node"], []).append(entry)
    assert sorted(by_input) == sorted(fan_in[fan_in_id].upstream)  # every input exactly once
    assert all(len(v) == 1 for v in by_input.values())
    # The inputs that were done well before the fan-in started came from the preloading thread (the
    # last one may finish as the fan-in starts: then the task fetches it itself, and the thread does not).
    preloaded = sorted(u for u in planned if by_input[u][0].get("via") == "preload")
    assert preloaded == sorted(rec.optimizations["preload"]) and len(preloaded) >= len(planned) - 1, by_input
    assert all(by_input[u][0]["bytes"] > 2 << 20 for u in planned)
    assert wr.optimizations["preload"]["inputs"] == len(preloaded)


def test_an_input_two_tasks_take_is_preloaded_once_and_one_never_stored_is_not_waited_for(redis_server):
    """The fetching thread against the real Redis: ``a`` feeds two tasks of the branch (both get it,
    downloaded once), ``b`` finishes after the thread started, ``c`` is announced but stays in its
    worker's memory (the task is told at once to fetch it itself)."""
    from orchestrator.core import codec
    from orchestrator.optimizations.preload.runtime import Fetcher
    from store import dataplane, keys

    run_id = 990_000 + time.time_ns() % 10_000
    dataplane.put_output(run_id, "a", codec.dumps([1, 2, 3]))
    redis_server.sadd(keys.done(run_id), "a", "c")
    fetcher = Fetcher(run_id, {"a": 2, "b": 1, "c": 1})
    fetcher.start()
    assert fetcher.subscribed.wait(5)
    dataplane.put_output(run_id, "b", codec.dumps("bee"))
    redis_server.sadd(keys.done(run_id), "b")
    redis_server.publish(keys.events(run_id), "b")
    until(lambda: {"a", "b"} <= fetcher.fetched, timeout_s=10, what="a and b to be preloaded")
    first, second = fetcher.take("a", timeout_s=10), fetcher.take("a", timeout_s=10)
    assert first[0] == second[0] == [1, 2, 3] and first[1] == second[1] > 0
    assert second[2] == 0.0  # downloaded once: the second taker's copy cost nothing
    assert fetcher.take("b", timeout_s=10)[0] == "bee"
    assert fetcher.take("c", timeout_s=20) is None
    assert "c" in fetcher.failed  # told, not timed out
    until(lambda: not fetcher.is_alive(), timeout_s=10, what="the fetching thread to end once all are settled")
    assert fetcher.got == {}  # nothing kept after its last taker


def test_an_input_the_preloader_has_not_reached_is_fetched_by_the_task_and_never_by_the_preloader(redis_server):
    """The task's inputs are all done when it starts; one whose completion the thread has not acted on
    yet is not waited for: the task fetches it, and the thread then leaves it alone."""
    from orchestrator.core import codec
    from orchestrator.optimizations.preload.runtime import Fetcher
    from store import dataplane, keys

    run_id = 970_000 + time.time_ns() % 10_000
    fetcher = Fetcher(run_id, {"late": 1, "other": 1})
    fetcher.start()
    assert fetcher.subscribed.wait(5)
    assert fetcher.take("late", timeout_s=30) is None  # not in flight: at once, not after 30 s
    assert "late" in fetcher.failed
    dataplane.put_output(run_id, "late", codec.dumps(1))
    redis_server.sadd(keys.done(run_id), "late")
    redis_server.publish(keys.events(run_id), "late")  # heard now: the thread must not download it
    dataplane.put_output(run_id, "other", codec.dumps(2))
    redis_server.sadd(keys.done(run_id), "other")
    redis_server.publish(keys.events(run_id), "other")
    until(lambda: "other" in fetcher.fetched, timeout_s=10, what="the other input to be preloaded")
    assert "late" not in fetcher.fetched and "late" not in fetcher.got
    assert fetcher.take("other", timeout_s=10)[0] == 2
    fetcher.stop()


# --- PreWarm ---------------------------------------------------------------------------------------


def _pool_of(memory_mb: int) -> int:
    return pools.read_pools().get(memory_mb, 0)


def test_a_planned_prewarm_ping_warms_the_process_the_later_branch_starts_on(live, settings):
    r"""
        value → slow_inc (4 s) → [slow_inc, slow_inc] → total     the second 1 s task needs a branch of its
                                                                    own; with the pool gone cold, the plan
                                                                    has it pre-warmed

    After the history runs the test waits for the pool to retire its idle processes (the keep-alive
    window): the measured run's long task takes the one process left, so the ping makes the pool
    fork one — the only idle process when the later branch comes, which starts warm on it.
    """

    def graph(tag):
        mid = t.slow_inc(t.value(1), 4.0, tag=tag)
        return t.total([t.slow_inc(mid, 1.0), t.slow_inc(mid, 1.0)])

    for k in range(2):
        submit(graph(f"h{k}"), name="prewarm-plan", planner="uniform").result(timeout=60)
    latest = WorkflowRun.objects.filter(workflow__name="prewarm-plan").latest("id")
    mb = latest.plan.data["tasks"]["value-0"]["memory_mb"]
    until(
        lambda: _pool_of(mb) == 1,
        timeout_s=settings.SLAFLOW_KEEPALIVE_S + 30,
        what=f"the {mb} MB pool down to one process",
    )
    run = submit(graph("m"), name="prewarm-plan", planner="uniform", optimizations=["prewarm"])
    assert run.result(timeout=60) == 6
    wr = WorkflowRun.objects.get(pk=run.id)
    annotated = {
        nid: tp["annotations"]["prewarm"]
        for nid, tp in wr.plan.data["tasks"].items()
        if "prewarm" in (tp.get("annotations") or {})
    }
    assert len(annotated) == 1, wr.plan.data
    ((target, planned),) = annotated.items()
    assert planned["memory_mb"] == mb and planned["sender"] in ("slow_inc-0", "value-0")
    stats = wr.optimizations["prewarm"]
    assert (stats["sent"], stats["taken"], stats["hits"]) == (1, 1, 1), stats
    ping = stats["pings"][target]
    assert ping["gap_s"] > 0 and ping["hit"] and ping["taken_by"] == ping["started_on"] and ping["handed_off"]
    assert stats["handed_off"] == 1
    # (JSON containment is not an SQLite lookup: the embedded default's suite filters here.)
    (startup,) = [s for s in WorkerStartup.objects.filter(run_id=run.id) if target in s.entry_nodes]
    assert (startup.reason, startup.cold, startup.pid) == ("prewarmed", False, ping["taken_by"])
    sender = TaskRun.objects.get(run_id=run.id, node_id=planned["sender"])
    assert sender.optimizations["prewarm_sent"] == [target]
    # The warm process waited for its branch and was handed it by the task that made it ready.
    handed = [r.node_id for r in TaskRun.objects.filter(run_id=run.id) if r.optimizations.get("prewarm_handed_off")]
    assert handed == ["slow_inc-0"], handed
    assert json.dumps(stats)  # plain JSON for the API and the web page


def test_a_branch_is_handed_to_the_warm_process_waiting_for_it_and_to_no_one_after_it_gave_up(redis_server):
    """The hand-off protocol against the real Redis: no waiter, no offer taken; a waiter gets the
    branch offered; one that gave up (timed out) takes no more offers, and an offer that came just
    before it gave up is still taken."""
    import threading

    from orchestrator.optimizations.prewarm import runtime as pw
    from store import keys

    run_id = 960_000 + time.time_ns() % 10_000
    branch = {"token": "r-w1-x", "entries": ["s"], "worker": "w1", "memory_mb": 512, "dispatched_at": 1.0}
    assert not pw.offer(run_id, "s", branch)  # nobody waits
    got = []
    waiter = threading.Thread(target=lambda: got.append(pw.await_branch(run_id, "s", 20.0)))
    waiter.start()
    until(lambda: redis_server.exists(keys.handoff_wait(run_id, "s")), timeout_s=10, what="the waiter to register")
    assert pw.offer(run_id, "s", branch)
    waiter.join(10)
    assert got == [branch]
    assert not pw.offer(run_id, "s", branch)  # it took one and left
    assert pw.await_branch(run_id, "t", 0.2) is None  # nothing came: it gives up
    assert not pw.offer(run_id, "t", branch) and redis_server.llen(keys.handoff(run_id, "t")) == 0
    # An offer that lands between the waiter's last look and its giving up is still taken.
    redis_server.set(keys.handoff_wait(run_id, "u"), "1")
    assert pw.offer(run_id, "u", branch)
    assert pw.await_branch(run_id, "u", 0.0) == branch


# --- Task clustering and delayed I/O (wukong-opt) -----------------------------------------------------


def clustered_graph(tag: str):
    r"""
          one              two
           |                |
          big            side       big: 2 MB; side ends 0.4 s after big began (big takes 0.1 s)
      / |  |  \  \     /
    d0 d1 d2 d3  join               d*: big's digest; join: big's digest once side is done
      \  \ |  /  /
        gather
    """
    big = t.blob(t.value(1), 2, seconds=0.1, tag=f"{tag}-big")
    join = t.digest(t.after(t.value(2), f"{tag}-big", 0.4), big, tag=f"{tag}-kid")
    return t.gather([t.digest(big, big, tag=f"{tag}-kid") for _ in range(4)] + [join])


def _by_node(run_id: int) -> dict:
    return {r.node_id: r for r in TaskRun.objects.filter(run_id=run_id)}


def test_clustered_children_run_once_beside_their_big_input_which_is_never_uploaded(live, counts, settings):
    settings.SLAFLOW_DELAYED_IO_S = 5.0  # side ends ~0.3 s after big: the wait always covers it here
    settings.SLAFLOW_SHM_MIN_BYTES = 0  # planned as where big outputs travel through Redis: the rule chooses it
    expected = hashlib.sha256(np.random.default_rng(1).standard_normal((2 << 20) // 8).tobytes()).hexdigest()
    choices = []
    for k in range(2):  # the same plan twice: the same choices
        sink = clustered_graph(f"cluster{k}")
        g = build_graph(sink)
        big = next(n for n, node in g.items() if node.function == "tests.taskfns.blob")
        kids = sorted(n for n, node in g.items() if big in node.upstream)
        join = next(n for n in kids if len(g[n].upstream) == 2)
        run = submit(sink, name="clustered", planner="wukong-opt")
        assert run.result(timeout=60) == [expected] * 5
        assert counts(f"cluster{k}-kid") == 5  # every child ran once
        recs = _by_node(run.id)
        producer = recs[big]
        assert producer.uploaded is False, "the big output went to Redis"
        assert sorted(producer.optimizations["clustered_children"]) == kids
        assert producer.optimizations["not_uploaded_bytes"] == producer.output_bytes > 2 << 20
        assert producer.optimizations["delayed_io"]["picked"] == [join]  # ready only once side was done
        for kid in kids:
            assert recs[kid].optimizations["clustered"] == big
            assert recs[kid].branch_id == producer.branch_id
            assert [e["local"] for e in recs[kid].inputs if e["node"] == big] == [True] * len(
                [u for u in g[kid].upstream if u == big]
            )
        summary = WorkflowRun.objects.get(pk=run.id).optimizations["clustering"]
        assert (summary["tasks"], summary["producers"], summary["delayed_hits"]) == (5, 1, 1)
        assert summary["bytes_not_uploaded"] == producer.output_bytes
        choices.append(
            (sorted(producer.optimizations["clustered_children"]), producer.optimizations["delayed_io"]["picked"])
        )
    assert choices[0] == choices[1]  # node ids are the same in both builds


def test_without_clustering_the_big_output_travels_to_the_children_other_executors_run(live, counts):
    sink = clustered_graph("plain")
    g = build_graph(sink)
    big = next(n for n, node in g.items() if node.function == "tests.taskfns.blob")
    run = submit(sink, name="clustered", planner="wukong")
    run.result(timeout=60)
    recs = _by_node(run.id)
    assert recs[big].uploaded is True
    assert not any("clustered" in r.optimizations for r in recs.values())
    assert "clustering" not in WorkflowRun.objects.get(pk=run.id).optimizations


# --- Output streaming ----------------------------------------------------------------------------------


def test_a_stream_read_while_written_gives_the_same_bytes_and_a_new_attempt_replaces_a_dead_one(redis_server):
    import threading

    from store import streams

    data = np.random.default_rng(4).standard_normal(300_000).tobytes()
    streams.open_stream(7001, "p", "tok:1", len(data), 64 << 10)
    got = {}
    reader = threading.Thread(target=lambda: got.update(buf=streams.read(7001, "p")))
    reader.start()
    # the first attempt dies half-way (no end mark); its redelivery streams it all again
    view = memoryview(data)
    for off in range(0, len(data) // 2, 64 << 10):
        redis_server.xadd(keys.stream(7001, "p"), {"a": "tok:1", "c": view[off : off + (64 << 10)].tobytes()})
    streams.open_stream(7001, "p", "tok:2", len(data), 50_000)
    assert streams.write(7001, "p", "tok:2", data, 50_000) == -(-len(data) // 50_000)
    reader.join(10)
    assert bytes(got["buf"]) == data
    assert streams.complete(7001, "p") and not streams.complete(7001, "q")


def test_a_producer_failing_mid_stream_gives_its_reader_a_clear_error_never_partial_data(redis_server):
    from store import streams

    data = b"x" * 200_000
    streams.open_stream(7002, "p", "t:1", len(data), 50_000)
    redis_server.xadd(keys.stream(7002, "p"), {"a": "t:1", "c": data[:50_000]})
    streams.fail(7002, "p", "t:1", "ValueError: the generator broke")
    with pytest.raises(
        streams.StreamError,
        match=r"the producer of 'p' failed while streaming its output: "
        r"ValueError: the generator broke",
    ):
        streams.read(7002, "p")
    # bytes that do not check out are refused too
    streams.open_stream(7003, "p", "t:1", 4, 4)
    redis_server.xadd(keys.stream(7003, "p"), {"a": "t:1", "c": b"abcd"})
    redis_server.xadd(keys.stream(7003, "p"), {"a": "t:1", "end": 1, "crc": 12345})
    with pytest.raises(streams.StreamError, match="does not check out"):
        streams.read(7003, "p")
    # and a producer that went silent is given up on
    streams.open_stream(7004, "p", "t:1", 10, 5)
    with pytest.raises(streams.StreamError, match="stalled"):
        streams.read(7004, "p", stall_s=0.6)
    assert keys.stream(7004, "p") in {k.decode() for k in redis_server.smembers(keys.registry(7004))}


def test_a_streamed_output_reaches_its_remote_consumer_byte_for_byte(live, settings):
    r"""
         one
          |
       payload        20 MB, consumed by two executors: one keeps its child, the other's input streams
        /    \
    digest  digest
        \    /
        gather
    """
    settings.SLAFLOW_STREAM_MIN_BYTES = 16 << 20
    settings.SLAFLOW_SHM_MIN_BYTES = 0  # planned as where big outputs travel through Redis: the rule chooses it
    big = t.payload(t.value(6), 20, seconds=0.0)
    # worth two executors: 3 s each, time enough for a second one to start (a spawn under load) and take one
    sink = t.gather([t.digest(big, big, seconds=3.0), t.digest(big, big, seconds=3.0)])
    g = build_graph(sink)
    producer = next(n for n, node in g.items() if node.function == "tests.taskfns.payload")
    expected = hashlib.sha256(np.random.default_rng(7).standard_normal((20 << 20) // 8).tobytes()).hexdigest()
    run = submit(sink, name="streamed", planner="wukong", optimizations=["streaming"])
    assert run.result(timeout=60) == [expected, expected]
    recs = _by_node(run.id)
    assert recs[producer].optimizations["streamed"] == {
        "bytes": recs[producer].output_bytes,
        "chunks": -(-recs[producer].output_bytes // (1 << 20)),
    }
    via = sorted(
        e.get("via") or ("local" if e["local"] else "redis")
        for r in recs.values()
        for e in r.inputs
        if e["node"] == producer
    )
    assert via == ["local", "stream"]
    summary = WorkflowRun.objects.get(pk=run.id).optimizations["streaming"]
    assert (summary["outputs"], summary["consumers"], summary["bytes"]) == (1, 1, recs[producer].output_bytes)


def test_a_generator_streams_its_items_to_a_streaming_consumer_while_it_runs(live):
    r"""
        count_up          yields 0..7, one every 0.3 s (2.4 s: the consumer's branch starts well within it)
         /     \
    running_sum  total    running_sum is declared streaming: it iterates the items as they come;
         \     /          total gets the list once the generator is done
         gather
    """
    gen = t.count_up(8, 0.3)
    sink = t.gather([t.running_sum(gen), t.total(gen)])
    g = build_graph(sink)
    producer = next(n for n, node in g.items() if node.function == "tests.taskfns.count_up")
    consumer = next(n for n, node in g.items() if node.function == "tests.taskfns.running_sum")
    run = submit(sink, name="generator-stream", planner="wukong")
    streamed, listed = run.result(timeout=60)
    assert (streamed["total"], streamed["n"], listed) == (28, 8, 28)
    recs = _by_node(run.id)
    # the consumer had its first item before the generator was done: the two overlapped
    assert streamed["first_at"] < recs[producer].finished_at.timestamp()
    assert recs[consumer].started_at < recs[producer].finished_at
    assert [e["via"] for e in recs[consumer].inputs] == ["stream"]
    assert recs[producer].optimizations["streamed_items"] == 8
    assert recs[producer].optimizations["streamed_to"] == [consumer]


def test_a_generator_failing_mid_stream_fails_its_streaming_consumer_clearly(live):
    gen = t.count_up(6, 0.2, fail_at=3)
    sink = t.gather([t.running_sum(gen), t.total(gen)])
    g = build_graph(sink)
    consumer = next(n for n, node in g.items() if node.function == "tests.taskfns.running_sum")
    run = submit(sink, name="generator-stream-fails", planner="wukong")
    with pytest.raises(Exception, match="the generator broke at item 3"):
        run.result(timeout=60)
    wr = WorkflowRun.objects.get(pk=run.id)
    assert wr.status == "failed" and "the generator broke at item 3" in wr.error
    rec = until(
        lambda: TaskRun.objects.filter(run_id=run.id, node_id=consumer).exclude(status="running").first(),
        what="the consumer's record",
    )
    assert rec.status != "succeeded"  # never a sum over part of the items as if it were all of them
    if rec.status == "failed":
        assert "failed while streaming its output: ValueError: the generator broke at item 3" in rec.error


def test_a_stream_that_breaks_under_its_producer_falls_back_to_the_output_stored_whole(redis_server, monkeypatch):
    """The producer's side (a Redis error mid-write, injected) and the reader's (it takes the stored copy)."""
    from types import SimpleNamespace

    from orchestrator.optimizations.streaming.runtime import Streaming
    from store import dataplane, streams

    data = np.random.default_rng(9).standard_normal(50_000).tobytes()
    streams.open_stream(7005, "p", "tok:1", len(data), 4096)

    def broken(*args, **kwargs):
        raise ConnectionError("Redis went away mid-stream")

    monkeypatch.setattr(streams, "write", broken)
    branch = SimpleNamespace(run_id=7005, token="tok", delivery=1)  # what the hook reads of its branch's view
    task = SimpleNamespace(
        node_id="p",
        data=data,
        stream_chunk=4096,
        record=SimpleNamespace(optimizations={}, upload_s=None, uploaded=False, finished_at=None),
    )
    hook = Streaming(SimpleNamespace(annotations_of=lambda n: {"streaming": {"min_bytes": 1, "chunk_bytes": 4096}}))
    assert hook.write_stream(branch, task) is True  # stored: whole, since the stream broke
    assert task.record.uploaded and "Redis went away" in task.record.optimizations["stream_fallback"]
    assert dataplane.get_output(7005, "p").buf == data
    monkeypatch.undo()
    with pytest.raises(streams.StreamError, match=streams.STORED_WHOLE):
        streams.read(7005, "p")
    assert hook.fetch_input(SimpleNamespace(run_id=7005), SimpleNamespace(node_id="c"), "p") is None  # → stored copy
