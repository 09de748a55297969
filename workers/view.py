"""What a hook sees: the task going through the stages, and a read-only view of its branch.

The branch runtime (``workers.runtime.BranchRun``) calls every hook (``workers.hooks``) with two
arguments. The *task* (``ActiveTask``) is the hooks' to read and to annotate: its inputs, its output,
the decisions taken so far, and its record, where a hook notes what it did
(``task.record.optimizations``). The *branch* is a ``BranchView``: who runs (run, token, logical
worker, delivery, executor or not), the run's context (plan, graph, annotations), the process's
limits and start-up, what it waits for and how it ended — every attribute read-only, collections
as read-only copies or proxies. A hook that needs state across tasks keeps it on itself (each branch
gets its own hook instances); it never writes into the runtime's. ::

    >>> class Branch:  # anything with the attributes a view reads
    ...     run_id, token, worker, delivery, entries, ctx, limits, startup = 7, "t", "w0", 1, ["a"], None, None, None
    ...     is_executor, lease, awaiting, records, stopped, failure = False, None, {"b": "a"}, [], False, None
    >>> view = BranchView(Branch())
    >>> view.run_id, dict(view.awaiting), view.lease_lost
    (7, {'b': 'a'}, False)
    >>> view.run_id = 8
    Traceback (most recent call last):
    ...
    AttributeError: a hook's view of its branch is read-only (run_id)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from orchestrator.core import codec
from orchestrator.core.graph import Node
from store import readiness
from store.records import TaskRecord


@dataclass
class ActiveTask:
    """One task going through the stages: what hooks read, and note what they did in (``record``)."""

    node: Node
    record: TaskRecord
    is_sink: bool
    values: dict[str, Any] = field(default_factory=dict)
    value: Any = None
    data: codec.Encoded | None = None  # the encoded output (its parts: an array's own data, not a copy)
    upload: bool = True  # send the output with the counters (else only if they find a consumer elsewhere)
    uploaded_now: bool = False  # the counters' call carried the output
    local_slots: int = 0
    finished: readiness.Finished | None = None
    continue_here: list[str] = field(default_factory=list)
    dispatch: dict[tuple, list[str]] = field(default_factory=dict)  # (worker, memory, key) → children
    cpu0: float = 0.0
    t_inputs: float = 0.0
    killed: str = ""  # why an earlier delivery's process was killed while running it (a time limit)
    duplicate: bool = False  # run here because a ``while_waiting`` hook asked (TaskDup: a straggler's duplicate)
    stream_chunk: int = 0  # its output is streamed (``stream_output``) in chunks of this many bytes, after dispatch

    @property
    def node_id(self) -> str:
        return self.node.id


class BranchView:
    """A branch as hooks see it: read-only. Built once per branch by the runtime."""

    __slots__ = ("_branch",)

    def __init__(self, branch):
        object.__setattr__(self, "_branch", branch)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"a hook's view of its branch is read-only ({name})")

    # --- who runs ---------------------------------------------------------------------
    run_id = property(lambda self: self._branch.run_id)
    token = property(lambda self: self._branch.token, doc="the branch's id (its Celery message's)")
    worker = property(lambda self: self._branch.worker, doc="its logical worker; None: a flexible branch")
    delivery = property(lambda self: self._branch.delivery, doc="1, or more after a redelivery")
    is_executor = property(lambda self: self._branch.is_executor, doc="a flexible branch popping ready tasks")
    entries = property(lambda self: tuple(self._branch.entries))
    ctx = property(lambda self: self._branch.ctx, doc="the run's context: plan, graph, annotations")
    limits = property(lambda self: self._branch.limits, doc="the process's memory and CPUs (``workers.cgroups``)")
    startup = property(lambda self: self._branch.startup, doc="how the process started (``StartupRecord``)")

    @property
    def lease_lost(self) -> bool:
        """Another delivery took the branch over (its process was frozen past the lease)."""
        lease = self._branch.lease
        return lease is not None and lease.lost

    # --- how it goes --------------------------------------------------------------------
    @property
    def awaiting(self) -> Mapping[str, str]:
        """Child → the task of this branch whose completion made it wait for the child's other inputs."""
        return MappingProxyType(self._branch.awaiting)

    records = property(lambda self: tuple(self._branch.records), doc="the records of the tasks it ran")
    stopped = property(lambda self: self._branch.stopped, doc="the run was over, or the branch taken over")
    failure = property(lambda self: self._branch.failure, doc="the task failure that ends it, if any")
