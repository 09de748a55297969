"""A branch run in the test process, without Celery: worker W's branch of a small planned run.

a   b        W runs a and b, both inputs of c (also W's); after a, W waits for c, which b makes
 \\ /         ready in W's own branch; W runs c and d; the sink e belongs to worker X and is
  c → d → e   dispatched (a Celery message on rc-2048).
"""

from __future__ import annotations

import time


def w_branch(run_id: int, *, trace: dict | None = None):
    """The BranchRun of W (token ``W-1``), not started: call ``execute()``."""
    from orchestrator.core.graph import Node, Ref

    graph = {
        "a": Node("a", "tests.taskfns.value", args=(1,)),
        "b": Node("b", "tests.taskfns.value", args=(2,)),
        "c": Node("c", "tests.taskfns.add", args=(Ref("a"), Ref("b"))),
        "d": Node("d", "tests.taskfns.inc", args=(Ref("c"),)),
        "e": Node("e", "tests.taskfns.inc", args=(Ref("d"),)),
    }
    plan = {n: {"m": 2048, "w": "W", "u": 0, "s": float(k)} for k, n in enumerate("abc")}
    plan["d"] = {"m": 2048, "w": "W", "u": 1, "s": 3.0}
    plan["e"] = {"m": 2048, "w": "X", "u": 1, "s": 4.0, "n": 1}
    downstream = {"a": ["c"], "b": ["c"], "c": ["d"], "d": ["e"], "e": []}
    return _w_run(run_id, "h", "e", graph, plan, downstream, ["a", "b"], trace=trace)


def chain_branch(run_id: int, length: int, mb: int, *, hooks: list | None = None):
    """The BranchRun of worker W (token ``W-1``) over a chain ``p → t1 → … → t<length>`` of ``mb`` MB
    arrays (``payload``, then ``times_ten``), all W's; the sink ``s`` (an ``inc`` of nothing big: it reads
    the last array's length) belongs to worker X and is dispatched. Not started: call ``execute()``."""
    from orchestrator.core.graph import Node, Ref

    names = ["p"] + [f"t{k}" for k in range(1, length + 1)]
    graph = {"p": Node("p", "tests.taskfns.payload", args=(1, mb))}
    for up, name in zip(names, names[1:]):
        graph[name] = Node(name, "tests.taskfns.times_ten", args=(Ref(up),))
    graph["s"] = Node("s", "tests.taskfns.checksum_all", args=([Ref(names[-1])],))
    plan = {n: {"m": 2048, "w": "W", "u": 0, "s": float(k)} for k, n in enumerate(names)}
    plan["s"] = {"m": 2048, "w": "X", "u": 1, "s": float(len(names)), "n": 1}
    downstream = {up: [name] for up, name in zip(names, names[1:])} | {names[-1]: ["s"], "s": []}
    return _w_run(run_id, "chain", "s", graph, plan, downstream, ["p"], hooks=hooks)


def _w_run(run_id, structure, sink, graph, plan, downstream, entries, *, trace=None, hooks=None):
    """Worker W's BranchRun (token ``W-1``, first delivery, warm) over ``entries`` of this run context;
    ``hooks``: added after the run's own."""
    from store.records import StartupRecord
    from workers.context import RunContext
    from workers.core_hooks import hooks_for
    from workers.runtime import BranchRun

    ctx = RunContext(
        run_id=run_id,
        structure_hash=structure,
        started_at=time.time(),
        sink=sink,
        graph=graph,
        plan=plan,
        downstream=downstream,
        default_memory_mb=2048,
        trace=trace,
    )
    return BranchRun(
        ctx,
        token="W-1",
        worker="W",
        entries=entries,
        delivery=1,
        hooks=None if hooks is None else hooks_for(ctx) + hooks,
        startup=StartupRecord(
            branch_id="W-1",
            worker_id="W",
            memory_mb=2048,
            host="h",
            pid=1,
            entry_nodes=entries,
            cold=False,
            reason="warm",
            requested_at=time.time(),
            started_at=time.time(),
        ),
    )
