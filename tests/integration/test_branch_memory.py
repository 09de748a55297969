"""A branch holds only the outputs someone in it still needs, and nothing once it is over.

A pool process runs branch after branch, run after run, under its configuration's memory limit. A branch
that kept every output it made or read (and each one's encoded copy) for its whole life — an executor
popping a whole run's tasks — and left them to Python's cyclic collector afterwards, grew past that limit:
the library's array_tree (32 vectors of 8 MB) took its executors to 2 GB and they were killed by their
cgroup mid-run, every few runs (the run survived, redelivered, seconds late).
"""

import gc
import weakref

import pytest

from orchestrator.models import TaskRun
from slaflow import submit
from tests import taskfns as t
from workers.hooks import Hook

pytestmark = [pytest.mark.integration]


class HeldAfterEachTask(Hook):
    """Which outputs the branch holds (values and encoded copies) after each of its tasks completes."""

    def __init__(self):
        self.branch = None
        self.held: dict[str, tuple[set, set]] = {}
        self.arrays: list[weakref.ref] = []

    def after_complete(self, view, task):
        self.held[task.node_id] = (set(self.branch.local), set(self.branch.encoded))
        if hasattr(task.value, "nbytes"):
            self.arrays.append(weakref.ref(task.value))


def test_a_branch_lets_go_of_each_big_output_once_its_consumers_here_ran(run_id, settings):
    """W runs p → t1 → … → t8 (1 MB arrays) and dispatches the sink to X: after each task W holds only the
    output it just made (its input, read by its only child, went), and the last one, stored in shared
    memory for X, without its encoded copy. Once the branch is over it holds nothing, and no array it made
    outlives it (with the cyclic collector off)."""
    from tests.branches import chain_branch

    settings.SLAFLOW_SHM_MIN_BYTES = 128 * 1024
    probe = HeldAfterEachTask()
    branch = chain_branch(run_id, 8, 1, hooks=[probe])
    probe.branch = branch
    branch.execute()
    assert branch.failure is None
    names = ["p"] + [f"t{k}" for k in range(1, 9)]
    assert [r.node_id for r in branch.records] == names
    for name in names[:-1]:
        assert probe.held[name] == ({name}, {name}), (name, probe.held[name])
    assert probe.held["t8"] == ({"t8"}, set())  # stored for X: its encoded copy is not kept
    assert [r.uploaded for r in branch.records] == [False] * 8 + [True]
    gc.disable()
    try:
        branch.drop_outputs()
        assert not branch.local and not branch.encoded
        del branch, probe.branch
        assert [a() for a in probe.arrays if a() is not None] == []
    finally:
        gc.enable()


def test_an_executor_running_a_long_chain_of_big_arrays_stays_within_its_memory_limit(live):
    """A WUKONG chain of 40 arrays of 32 MB on the 2048 MB configuration runs in one executor: holding every
    output (and its encoded copy) it would pass 2.6 GB and be killed by its cgroup (its tasks run again by
    another process); now each task runs once, all in the same process."""
    x = t.payload(3, 32)
    for _ in range(40):
        x = t.times_ten(x)
    run = submit(t.checksum_all([x]), name="long-big-chain", planner="wukong")
    assert isinstance(run.result(timeout=180), str)
    run.wait(timeout=60)
    rows = list(TaskRun.objects.filter(run_id=run.id).values_list("node_id", "pid", "enforced", "memory_mb"))
    assert len(rows) == 42
    assert all(enforced for _, _, enforced, _ in rows), "the memory limit must be enforced for this test to mean it"
    assert {mb for *_, mb in rows} == {2048}
    assert len({pid for _, pid, _, _ in rows}) == 1, sorted(rows)
