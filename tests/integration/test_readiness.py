"""The readiness protocol against a real Redis: counters, claims, hand-offs, redeliveries."""
import time

import pytest

from workers import dataplane, keys, readiness
from workers.readiness import FLEX, OTHER, OWN, Child

pytestmark = [pytest.mark.integration]


@pytest.fixture
def run_id(redis_server):
    rid = 10_000_000 + time.time_ns() % 1_000_000
    yield rid
    dataplane.delete_run_data(rid)


def test_the_last_input_makes_a_child_ready_once(run_id):
    c = [Child("c", 2, OTHER)]
    assert readiness.finish_task(run_id, "a", "tok-a", c, b"A") == [readiness.NOT_READY]
    assert readiness.finish_task(run_id, "a", "tok-a", c, b"A") == [readiness.NOT_READY]  # same input again
    assert readiness.finish_task(run_id, "b", "tok-b", c, b"B") == [readiness.DISPATCH]
    readiness.mark_dispatched(run_id, ["c"], "tok-b")
    # Redelivered after dispatching: never again; nor for the other input's branch.
    assert readiness.finish_task(run_id, "b", "tok-b", c, b"B") == [readiness.NOT_READY]
    assert readiness.finish_task(run_id, "a", "tok-a", c, b"A") == [readiness.NOT_READY]
    assert readiness.taken_by(run_id, "c") == "d:tok-b"


def test_a_claimer_that_died_before_dispatching_gets_its_child_back(run_id):
    c = [Child("c", 1, OTHER)]
    assert readiness.finish_task(run_id, "a", "tok", c, b"A") == [readiness.DISPATCH]
    # Its process died before sending the branch: the redelivered branch (same token) dispatches it.
    assert readiness.finish_task(run_id, "a", "tok", c, b"A") == [readiness.DISPATCH]
    assert readiness.finish_task(run_id, "a", "other", c, b"A") == [readiness.NOT_READY]


def test_a_flexible_branch_continues_with_one_child_and_dispatches_the_rest(run_id):
    kids = [Child("x", 1, FLEX), Child("y", 1, FLEX), Child("z", 1, FLEX)]
    out = readiness.finish_task(run_id, "a", "tok", kids, b"A")
    assert out == [readiness.LOCAL, readiness.DISPATCH, readiness.DISPATCH]
    assert readiness.finish_task(run_id, "a", "tok", kids, b"A") == out  # redelivered: same choice


def test_a_waiting_branch_is_registered_atomically_and_gets_the_child_handed_over(run_id):
    mine = [Child("c", 2, OWN)]
    assert readiness.finish_task(run_id, "a", "w1", mine, None) == [readiness.WAITING]
    assert dataplane.get_output(run_id, "a") is None  # a stays in w1's memory
    # b's worker is another one: its output travels, and c goes to the waiting branch.
    assert readiness.finish_task(run_id, "b", "v1", [Child("c", 2, OTHER)], b"B") == [readiness.HANDED]
    assert readiness.next_handed(run_id, "w1", 1.0) == "c"
    assert readiness.stop_waiting(run_id, "c", "w1") is False
    assert readiness.taken_by(run_id, "c") == "h:w1"


def test_a_sibling_branch_of_the_same_worker_must_upload_before_handing_over(run_id):
    """w1 and w2 are two branches of logical worker W; c (on W) needs a (from w1) and b (from w2)."""
    own = [Child("c", 2, OWN)]
    assert readiness.finish_task(run_id, "a", "w1", own, None) == [readiness.WAITING]
    # w2 finishes b without attaching it: refused, nothing recorded.
    assert readiness.finish_task(run_id, "b", "w2", own, None) == [readiness.UPLOAD_FIRST]
    assert not dataplane.get_redis().sismember(keys.done(run_id), "b")
    assert readiness.finish_task(run_id, "b", "w2", own, b"B") == [readiness.HANDED]
    assert dataplane.get_output(run_id, "b") == b"B"
    assert readiness.next_handed(run_id, "w1", 1.0) == "c"


def test_a_second_waiter_never_displaces_the_first(run_id):
    own3 = [Child("c", 3, OWN)]
    assert readiness.finish_task(run_id, "a", "w1", own3, None) == [readiness.WAITING]
    assert readiness.finish_task(run_id, "b", "w2", own3, None) == [readiness.UPLOAD_FIRST]
    assert readiness.finish_task(run_id, "b", "w2", own3, b"B") == [readiness.NOT_READY]  # uploads, no wait
    assert dataplane.get_redis().get(keys.waiter(run_id, "c")) == b"w1"


def test_a_withdrawn_waiter_leaves_the_child_to_whoever_completes_it(run_id):
    own = [Child("c", 2, OWN)]
    assert readiness.finish_task(run_id, "a", "w1", own, None) == [readiness.WAITING]
    dataplane.put_output(run_id, "a", b"A")  # what the runtime uploads before withdrawing
    assert readiness.stop_waiting(run_id, "c", "w1") is True
    assert readiness.finish_task(run_id, "b", "v1", [Child("c", 2, OTHER)], b"B") == [readiness.DISPATCH]


def test_the_script_builds_the_key_names_of_workers_keys(run_id):
    readiness.finish_task(run_id, "a", "w1", [Child("c", 2, OWN), Child("d", 1, OTHER)], b"A")
    r = dataplane.get_redis()
    assert r.get(keys.output(run_id, "a")) == b"A"
    assert r.sismember(keys.done(run_id), "a")
    assert r.hget(keys.states(run_id), "a") == b"succeeded"
    assert r.sismember(keys.deps(run_id, "c"), "a") and r.get(keys.waiter(run_id, "c")) == b"w1"
    assert r.get(keys.claim(run_id, "d")) == b"w1" and r.hget(keys.taken(run_id), "d") == b"p:w1"
    for key in (keys.done(run_id), keys.deps(run_id, "c"), keys.taken(run_id), keys.output(run_id, "a")):
        assert r.ttl(key) > 0  # everything expires even if the run never ends


def test_a_branch_that_completes_its_own_awaited_child_does_not_wait_for_it(run_id):
    """Worker W runs a and b, both inputs of c (also W's): after a, W waits for c; b then makes c
    ready in W's own branch, which must run c and d and end without waiting for any hand-off;
    the sink e belongs to worker X and is dispatched."""
    from orchestrator.graph import Node, Ref
    from workers.context import RunContext
    from workers.records import StartupRecord
    from workers.runtime import BranchRun

    graph = {"a": Node("a", "tests.taskfns.value", args=(1,)), "b": Node("b", "tests.taskfns.value", args=(2,)),
             "c": Node("c", "tests.taskfns.add", args=(Ref("a"), Ref("b"))),
             "d": Node("d", "tests.taskfns.inc", args=(Ref("c"),)),
             "e": Node("e", "tests.taskfns.inc", args=(Ref("d"),))}
    plan = {n: {"m": 2048, "w": "W", "s": float(k)} for k, n in enumerate("abcd")}
    plan["e"] = {"m": 2048, "w": "X", "s": 4.0, "n": 1}
    ctx = RunContext(run_id=run_id, structure_hash="h", started_at=time.time(), sink="e", graph=graph, plan=plan,
                     downstream={"a": ["c"], "b": ["c"], "c": ["d"], "d": ["e"], "e": []}, default_memory_mb=2048)
    branch = BranchRun(ctx, token="W-1", worker="W", entries=["a", "b"], delivery=1, startup=StartupRecord(
        branch_id="W-1", worker_id="W", memory_mb=2048, host="h", pid=1, entry_nodes=["a", "b"], cold=False,
        reason="warm", requested_at=time.time(), started_at=time.time()))
    branch.execute()
    assert [r.node_id for r in branch.records] == ["a", "b", "c", "d"]
    assert branch.awaiting == {} and branch.failure is None
    assert [r.uploaded for r in branch.records] == [False, False, False, True]  # only d leaves W
    assert readiness.taken_by(run_id, "e") == "d:W-1"
