"""Fencing by lease token against a real Redis: a delivery that was taken over writes nothing."""

import pytest

from store import dataplane, fencing, keys, readiness
from store.readiness import OWN, Child
from store.redis_client import get_redis

pytestmark = [pytest.mark.integration]


def _take_up(run_id: int, token: str) -> int:
    """What ``Lease.acquire`` does to the fencing token: one more delivery of the branch."""
    return int(get_redis().hincrby(keys.deliveries(run_id), token, 1))


def test_a_taken_over_delivery_cannot_finish_its_task_nor_release_its_child(run_id):
    first = fencing.Fence(run_id, "tok", _take_up(run_id, "tok"))
    second = fencing.Fence(run_id, "tok", _take_up(run_id, "tok"))  # taken over
    child = [Child("c", 1, OWN)]
    before = fencing.counts(run_id)["fenced"]
    with pytest.raises(fencing.Fenced):
        readiness.finish_task(run_id, "a", "tok", child, b"stale output", fence=first)
    with pytest.raises(fencing.Fenced):
        dataplane.begin_task(run_id, "a", "tok", fence=first)
    # Nothing of it was written: not the output, not the task done, not the child's input.
    assert not dataplane.has_output(run_id, "a") and dataplane.live_states(run_id) == {}
    assert get_redis().hget(keys.dep_counts(run_id), "c") is None
    assert fencing.counts(run_id)["fenced"] == before + 2  # calls refused: the output with the counters, the state
    # The current delivery writes as ever.
    assert readiness.finish_task(run_id, "a", "tok", child, b"output", fence=second).outcomes == [readiness.LOCAL]
    assert dataplane.get_output(run_id, "a").buf == b"output"


def test_a_taken_over_delivery_cannot_end_its_branch_or_pop_or_fail_the_run(run_id):
    dataplane.add_live(run_id, ["x"])
    stale = fencing.Fence(run_id, "x", _take_up(run_id, "x"))
    _take_up(run_id, "x")
    get_redis().rpush(keys.ready(run_id, 512), "t1")
    with pytest.raises(fencing.Fenced):
        dataplane.branch_end(run_id, "x", fence=stale)
    with pytest.raises(fencing.Fenced):
        readiness.pop(run_id, 512, "x", fence=stale)
    with pytest.raises(fencing.Fenced):
        dataplane.mark_over(run_id, "failed", fence=stale)
    assert get_redis().sismember(keys.live(run_id), "x")  # still live for the new delivery
    assert get_redis().lrange(keys.ready(run_id, 512), 0, -1) == [b"t1"]  # nothing popped
    assert not dataplane.is_over(run_id)


def test_a_run_whose_state_is_gone_fences_every_late_writer(run_id):
    stale = fencing.Fence(run_id, "y", 1)  # its run ended and was cleaned up: no count at all
    assert not fencing.current(stale)
    assert fencing.current(None)  # writes outside a lease (tests, tools) are not fenced


def test_a_fenced_finish_on_a_redis_that_knows_some_of_its_scripts_pops_each_ready_task_once(run_id):
    """A fresh Redis server (or one restarted) knows no script; a process loads each on first use. A fenced
    finish that stored its output with one script and updated the counters with another, pipelined, could meet
    a server that knew the second but not the first: the pipeline failed (NOSCRIPT) *after* the counters'
    script had run — popping the executor's next task — and was sent again, popping another; the first
    stayed held by nobody and the run stalled (the first run of every fresh cluster, reproduced 3 of 3 with
    `bench runtime --workload gemm` against a new redis-server). Now the finish is one script."""
    from orchestrator.core import codec
    from store.readiness import FLEX

    r = get_redis()
    readiness.finish_task(run_id, "a", "planned", [Child("x", 1, FLEX, 512), Child("y", 1, FLEX, 512)], b"A")
    x1 = f"r{run_id}-x512-a-1"
    fence = fencing.Fence(run_id, x1, _take_up(run_id, x1))
    assert readiness.pop(run_id, 512, x1, fence=fence) == ("x", False)
    r.script_flush()  # as a new server: nothing loaded ...
    readiness.finish_task(run_id, "q", x1, [], None, fence=fence)  # ... but what a finish without output loads
    fin = readiness.finish_task(run_id, "x", x1, [], codec.dumps(1), pop_from=512, fence=fence)
    assert fin.popped == "y" and not fin.retired  # the next ready task, once (it was: None, and retired)
    assert readiness.held(run_id, x1) == ["x", "y"] and r.lrange(keys.ready(run_id, 512), 0, -1) == []
