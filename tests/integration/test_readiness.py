"""The readiness protocol against a real Redis: counters, claims, hand-offs, redeliveries."""

import pytest

from store import dataplane, keys, readiness
from store.readiness import FLEX, OTHER, OWN, Child
from workers import canvas

pytestmark = [pytest.mark.integration]


def outcomes(*args, **kw) -> list[int]:
    return readiness.finish_task(*args, **kw).outcomes


def test_the_last_input_makes_a_child_ready_once(run_id):
    c = [Child("c", 2, OTHER)]
    assert outcomes(run_id, "a", "tok-a", c, b"A") == [readiness.NOT_READY]
    assert outcomes(run_id, "a", "tok-a", c, b"A") == [readiness.NOT_READY]  # same input again
    assert outcomes(run_id, "b", "tok-b", c, b"B") == [readiness.DISPATCH]
    readiness.mark_dispatched(run_id, ["c"], "tok-b")
    # Redelivered after dispatching: never again; nor for the other input's branch.
    assert outcomes(run_id, "b", "tok-b", c, b"B") == [readiness.NOT_READY]
    assert outcomes(run_id, "a", "tok-a", c, b"A") == [readiness.NOT_READY]
    assert readiness.taken_by(run_id, "c") == "d:tok-b"


def test_a_claimer_that_died_before_dispatching_gets_its_child_back(run_id):
    c = [Child("c", 1, OTHER)]
    assert outcomes(run_id, "a", "tok", c, b"A") == [readiness.DISPATCH]
    # Its process died before sending the branch: the redelivered branch (same token) dispatches it.
    assert outcomes(run_id, "a", "tok", c, b"A") == [readiness.DISPATCH]
    assert outcomes(run_id, "a", "other", c, b"A") == [readiness.NOT_READY]


def test_a_flexible_branch_keeps_one_child_and_queues_the_rest_for_executors(run_id, settings, uncapped_executors):
    """a → x, y, z (flexible): x runs here, y and z go on the ready list with an executor each
    (the cap allows 2 beyond the one already popping); a redelivered call launches the same ones."""
    settings.SLAFLOW_FLEX_EXECUTORS = 3
    r = dataplane.get_redis()
    r.sadd(keys.executors(run_id, 2048), "tok")  # the caller is an executor of this configuration
    kids = [Child("x", 1, FLEX, 2048), Child("y", 1, FLEX, 2048), Child("z", 1, FLEX, 2048)]
    fin = readiness.finish_task(run_id, "a", "tok", kids, b"A", local_slots=1)
    assert fin.outcomes == [readiness.LOCAL, readiness.QUEUED, readiness.QUEUED]
    # small output: any host
    assert fin.executors == [(f"r{run_id}-x2048-a-1", 2048, ""), (f"r{run_id}-x2048-a-2", 2048, "")]
    assert fin.executors[0][0] == canvas.executor_token(run_id, 2048, "a", 1)
    assert r.lrange(keys.ready(run_id, 2048), 0, -1) == [b"y", b"z"]
    assert r.sismember(keys.live(run_id), fin.executors[0][0])
    again = readiness.finish_task(run_id, "a", "tok", kids, b"A", local_slots=1)
    assert again.outcomes == fin.outcomes and again.executors == fin.executors  # redelivered: same choice
    assert r.llen(keys.ready(run_id, 2048)) == 2  # nothing queued twice


def test_executors_pop_until_empty_and_retire_in_the_same_step(run_id):
    r = dataplane.get_redis()
    kids = [Child("x", 1, FLEX, 512), Child("y", 1, FLEX, 512)]
    readiness.finish_task(run_id, "a", "planned-branch", kids, b"A", local_slots=0)
    x1 = f"r{run_id}-x512-a-1"
    assert readiness.pop(run_id, 512, x1) == ("x", False)
    assert readiness.taken_by(run_id, "x") == f"l:{x1}" and readiness.held(run_id, x1) == ["x"]
    # Finishing x, with nothing of its own next, the executor takes y in the same call.
    fin = readiness.finish_task(run_id, "x", x1, [], b"X", pop_from=512)
    assert fin.popped == "y" and not fin.retired
    fin = readiness.finish_task(run_id, "y", x1, [], b"Y", pop_from=512)
    assert fin.popped is None and fin.retired  # the list was empty: retired atomically
    assert not r.sismember(keys.executors(run_id, 512), x1)
    dataplane.mark_over(run_id, "cancelled")
    assert readiness.pop(run_id, 512, x1) == (None, True)


def test_a_tree_s_second_input_to_finish_uploads_nothing(run_id):
    """a, b → c (flexible): the first to finish must upload (c will run elsewhere); the second runs c
    itself and its output never travels."""
    c = [Child("c", 2, FLEX, 2048)]
    assert readiness.finish_task(run_id, "a", "x1", c, None, local_slots=1).upload_first
    assert not dataplane.get_redis().sismember(keys.done(run_id), "a")  # nothing changed
    assert outcomes(run_id, "a", "x1", c, b"A", local_slots=1) == [readiness.NOT_READY]
    assert outcomes(run_id, "b", "x2", c, None, local_slots=1) == [readiness.LOCAL]
    assert dataplane.get_output(run_id, "a").buf == b"A" and dataplane.get_output(run_id, "b") is None


def test_a_waiting_branch_is_registered_atomically_and_gets_the_child_handed_over(run_id):
    mine = [Child("c", 2, OWN)]
    assert outcomes(run_id, "a", "w1", mine, None) == [readiness.WAITING]
    assert dataplane.get_output(run_id, "a") is None  # a stays in w1's memory
    # b's worker is another one: its output travels, and c goes to the waiting branch.
    assert outcomes(run_id, "b", "v1", [Child("c", 2, OTHER)], b"B") == [readiness.HANDED]
    assert readiness.next_handed(run_id, "w1", 1.0) == "c"
    assert readiness.stop_waiting(run_id, "c", "w1") is False
    assert readiness.taken_by(run_id, "c") == "h:w1"


def test_a_sibling_branch_of_the_same_worker_must_upload_before_handing_over(run_id):
    """w1 and w2 are two branches of logical worker W; c (on W) needs a (from w1) and b (from w2)."""
    own = [Child("c", 2, OWN)]
    assert outcomes(run_id, "a", "w1", own, None) == [readiness.WAITING]
    # w2 finishes b without attaching it: refused, nothing recorded.
    assert readiness.finish_task(run_id, "b", "w2", own, None).upload_first
    assert not dataplane.get_redis().sismember(keys.done(run_id), "b")
    assert outcomes(run_id, "b", "w2", own, b"B") == [readiness.HANDED]
    assert dataplane.get_output(run_id, "b").buf == b"B"
    assert readiness.next_handed(run_id, "w1", 1.0) == "c"


def test_a_second_waiter_never_displaces_the_first(run_id):
    own3 = [Child("c", 3, OWN)]
    assert outcomes(run_id, "a", "w1", own3, None) == [readiness.WAITING]
    assert readiness.finish_task(run_id, "b", "w2", own3, None).upload_first
    assert outcomes(run_id, "b", "w2", own3, b"B") == [readiness.NOT_READY]  # uploads, no wait
    assert dataplane.get_redis().hget(keys.waiters(run_id), "c") == b"w1"


def test_a_withdrawn_waiter_leaves_the_child_to_whoever_completes_it(run_id):
    own = [Child("c", 2, OWN)]
    assert outcomes(run_id, "a", "w1", own, None) == [readiness.WAITING]
    dataplane.put_output(run_id, "a", b"A")  # what the runtime uploads before withdrawing
    assert readiness.stop_waiting(run_id, "c", "w1") is True
    assert outcomes(run_id, "b", "v1", [Child("c", 2, OTHER)], b"B") == [readiness.DISPATCH]


def test_the_script_builds_the_key_names_of_workers_keys(run_id):
    fin = readiness.finish_task(
        run_id, "a", "w1", [Child("c", 2, OWN), Child("d", 1, OTHER), Child("e", 1, FLEX, 512)], b"A"
    )
    r = dataplane.get_redis()
    assert r.hget(keys.outputs(run_id), "a") == b"A"
    assert r.sismember(keys.done(run_id), "a")
    assert r.hget(keys.states(run_id), "a") == b"succeeded"
    assert r.hget(keys.deps(run_id), "c|a") == b"1" and r.hget(keys.dep_counts(run_id), "c") == b"1"
    assert r.hget(keys.waiters(run_id), "c") == b"w1"
    assert r.hget(keys.claims(run_id), "d") == b"w1" and r.hget(keys.taken(run_id), "d") == b"p:w1"
    assert r.lrange(keys.ready(run_id, 512), 0, -1) == [b"e"]
    ((token, _, _),) = fin.executors
    assert r.sismember(keys.executors(run_id, 512), token) and r.hget(keys.spawned(run_id), "a")
    for key in (keys.ready(run_id, 512), keys.executors(run_id, 512)) + tuple(dataplane.token_keys(run_id, token)):
        assert r.sismember(keys.registry(run_id), key)  # found again for clean-up, without a scan
    for key in (
        keys.done(run_id),
        keys.deps(run_id),
        keys.taken(run_id),
        keys.outputs(run_id),
        keys.ready(run_id, 512),
    ):
        assert r.ttl(key) > 0  # everything expires even if the run never ends
    dataplane.delete_run_data(run_id)
    assert list(r.scan_iter(match=keys.run_pattern(run_id))) == []


def test_a_branch_that_completes_its_own_awaited_child_does_not_wait_for_it(run_id):
    """Worker W runs a and b, both inputs of c (also W's): after a, W waits for c; b then makes c
    ready in W's own branch, which must run c and d and end without waiting for any hand-off;
    the sink e belongs to worker X and is dispatched."""
    from tests.branches import w_branch

    branch = w_branch(run_id)
    branch.execute()
    assert [r.node_id for r in branch.records] == ["a", "b", "c", "d"]
    assert branch.awaiting == {} and branch.failure is None
    assert [r.uploaded for r in branch.records] == [False, False, False, True]  # only d leaves W
    assert readiness.taken_by(run_id, "e") == "d:W-1"


def test_a_branch_lets_go_of_each_output_once_no_task_of_it_reads_it_again(run_id):
    """W's a and b are read by c, c by d, all in W's branch: each goes once its consumer ran; d, stored for
    X's e (dispatched), is all W keeps; what X reads is d's output, whole."""
    from tests.branches import w_branch

    branch = w_branch(run_id)
    branch.execute()
    assert branch.failure is None and [r.node_id for r in branch.records] == ["a", "b", "c", "d"]
    assert list(branch.local) == ["d"] and list(branch.encoded) == ["d"]
    assert dataplane.get_output(run_id, "d").load() == 1 + 2 + 1


def test_a_big_output_s_flexible_children_queue_on_its_host_and_idle_hosts_steal_them(
    run_id, settings, uncapped_executors
):
    """a's output is in host hA's shared memory: its flexible children go on hA's ready list and their
    executors to hA's queue; an executor pops its own host's list first, then the unplaced list, and
    only then another host's (stealing, so a busy host starves no one)."""
    settings.SLAFLOW_FLEX_EXECUTORS = 2
    settings.SLAFLOW_SHM_MIN_BYTES = 1024
    r = dataplane.get_redis()
    settings.SLAFLOW_HOST_ID = "hA"
    kids = [Child("x", 1, FLEX, 512), Child("y", 1, FLEX, 512)]
    fin = readiness.finish_task(run_id, "a", "planned-branch", kids, b"A" * 4096)
    assert fin.outcomes == [readiness.QUEUED, readiness.QUEUED]
    assert [host for _, _, host in fin.executors] == ["hA", "hA"]
    assert fin.homes == {"x": "hA", "y": "hA"}
    assert r.lrange(keys.ready_on(run_id, 512, "hA"), 0, -1) == [b"x", b"y"] and r.llen(keys.ready(run_id, 512)) == 0
    small = readiness.finish_task(run_id, "b", "planned-branch", [Child("z", 1, FLEX, 512)], b"B")
    assert small.executors == [] and small.homes == {}  # the cap is reached; z is on the unplaced list
    assert r.lrange(keys.ready(run_id, 512), 0, -1) == [b"z"]
    assert readiness.pop(run_id, 512, "xa") == ("x", False)  # hA's executor: its own host's first
    settings.SLAFLOW_HOST_ID = "hB"
    assert readiness.pop(run_id, 512, "xb") == ("z", False)  # hB's: the unplaced one before stealing
    assert readiness.pop(run_id, 512, "xb") == ("y", False)  # then it steals hA's rather than idle
    assert readiness.pop(run_id, 512, "xb") == (None, False)
    for key in (keys.ready_on(run_id, 512, "hA"), keys.ready_hosts(run_id, 512), keys.near(run_id)):
        assert key.encode() in r.smembers(keys.registry(run_id)) or key in keys.fixed_keys(run_id)


def test_a_child_s_home_is_the_host_holding_most_of_its_input_bytes(run_id, settings):
    settings.SLAFLOW_SHM_MIN_BYTES = 1024
    c = [Child("c", 3, OTHER, 512)]
    settings.SLAFLOW_HOST_ID = "hA"
    readiness.finish_task(run_id, "a", "ta", c, b"A" * 3000)
    settings.SLAFLOW_HOST_ID = "hB"
    readiness.finish_task(run_id, "b1", "tb", c, b"B" * 2000)
    readiness.finish_task(run_id, "b1", "tb", c, b"B" * 2000)  # redelivered: counted once
    fin = readiness.finish_task(run_id, "b2", "tb", c, b"B" * 100)  # small: in Redis, no host's
    assert fin.outcomes == [readiness.DISPATCH] and fin.homes == {"c": "hA"}
    settings.SLAFLOW_HOST_ID = "hB"
    c2 = [Child("d", 2, OTHER, 512)]
    readiness.finish_task(run_id, "b3", "tb", c2, b"B" * 2000)
    fin = readiness.finish_task(run_id, "b4", "tb", c2, b"B" * 2000)
    assert fin.homes == {"d": "hB"}  # 4000 bytes on hB


def test_two_executors_share_a_ready_list_in_runs_of_neighbours(run_id, settings, uncapped_executors):
    """Leaves made ready in order: executor 1 takes from the head and executor 2 from the tail, so
    neighbours (the two inputs of a fan-in) go to one executor; every leaf is taken once."""
    settings.SLAFLOW_FLEX_EXECUTORS = 2
    leaves = [f"leaf-{i}" for i in range(6)]
    fin = readiness.finish_task(run_id, "root", "planned-branch", [Child(n, 1, FLEX, 512) for n in leaves], b"R")
    assert fin.outcomes == [readiness.QUEUED] * 6
    one, two = (canvas.executor_token(run_id, 512, "root", k) for k in (1, 2))
    taken = {one: [], two: []}
    for token in [one, two, one, two, one, two]:
        node, over = readiness.pop(run_id, 512, token)
        assert not over
        taken[token].append(node)
    assert taken == {one: ["leaf-0", "leaf-1", "leaf-2"], two: ["leaf-5", "leaf-4", "leaf-3"]}
    assert readiness.pop(run_id, 512, one) == (None, False)  # drained
