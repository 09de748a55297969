"""Plan → Celery signatures.

``emit(plan, graph, run_id)`` returns a ``group`` of root-branch signatures:
one per logical worker with roots, and the executors that will pop the
flexible roots (``flexible_roots`` go on the run's ready lists, see
``store.readiness``). Every branch signature — roots here, downstream
branches and executors dispatched by workers — is stamped by ``_stamp``, the
one place that decides a branch's queue, task id and slaflow headers.

A branch is identified by a deterministic token (run, logical worker, entry
nodes; an executor by its run, configuration, what launched it and a
number): a re-sent branch keeps its id, which the data plane uses to make
every step idempotent.
"""

from __future__ import annotations

import hashlib
import time
from typing import Iterable

from celery import group, signature

from orchestrator.core import router
from orchestrator.core.graph import Graph, roots
from orchestrator.planning.plan import Plan
from store import readiness
from workers import tracing

HEADER = "slaflow"


def branch_token(run_id: int, entries: Iterable[str], worker: str | None) -> str:
    entries = sorted(entries)
    digest = hashlib.sha1("\n".join(entries).encode()).hexdigest()[:12]
    return f"r{run_id}-{worker or 'f'}-{digest}"


def _stamp(
    sig, *, run_id: int, token: str, memory_mb: int, worker: str | None, annotations: dict, host: str = ""
) -> None:
    header = {
        "run_id": run_id,
        "worker": worker,
        "memory_mb": memory_mb,
        "dispatched_at": time.time(),
        "annotations": annotations,
    }
    if tracing.enabled():  # the W3C trace context of the span sending it (workers.tracing)
        header["trace"] = tracing.carrier()
    sig.set(task_id=token, headers={HEADER: header}, **router.route_for(memory_mb, host))


def branch_signature(
    run_id: int, entries: list[str], *, worker: str, memory_mb: int, annotations: dict | None = None, host: str = ""
):
    """A branch of a logical worker, starting with ``entries`` (on ``host``'s queue, if given: where
    their biggest inputs are)."""
    entries = list(entries)
    sig = signature(router.BRANCH_TASK, args=(run_id, entries), kwargs={"worker": worker})
    _stamp(
        sig,
        run_id=run_id,
        token=branch_token(run_id, entries, worker),
        memory_mb=memory_mb,
        worker=worker,
        annotations=annotations or {},
        host=host,
    )
    return sig


def executor_token(run_id: int, memory_mb: int, origin: str, k: int) -> str:
    """``r<run>-x<memory_mb>-<origin>-<k>``: ``origin`` is the task whose completion launched it
    (``root`` at submission). ``store.readiness`` builds the same names in Lua."""
    return f"r{run_id}-x{int(memory_mb)}-{origin}-{k}"


def executor_signature(run_id: int, token: str, memory_mb: int, host: str = ""):
    """A flexible branch that pops ready flexible tasks of its run on ``memory_mb`` until none is left
    (sent to ``host``'s queue, if given: the host holding the inputs of the tasks it was launched for)."""
    sig = signature(router.BRANCH_TASK, args=(run_id, []), kwargs={"worker": None, "memory_mb": int(memory_mb)})
    _stamp(sig, run_id=run_id, token=token, memory_mb=memory_mb, worker=None, annotations={}, host=host)
    return sig


def root_branches(plan: Plan, graph: Graph) -> list[tuple[list[str], str, int]]:
    """(entries, worker, memory_mb) per logical worker with roots: its roots share a branch."""
    by_worker: dict[str, list[str]] = {}
    out: list[tuple[list[str], str, int]] = []
    for nid in roots(graph):
        tp = plan.tasks[nid]
        if tp.worker is not None:
            if tp.worker not in by_worker:
                by_worker[tp.worker] = []
                out.append((by_worker[tp.worker], tp.worker, tp.memory_mb))
            by_worker[tp.worker].append(nid)
    return out


def flexible_roots(plan: Plan, graph: Graph) -> dict[int, list[str]]:
    """Flexible roots per configuration, for the run's ready lists."""
    out: dict[int, list[str]] = {}
    for nid in roots(graph):
        tp = plan.tasks[nid]
        if tp.worker is None:
            out.setdefault(tp.memory_mb, []).append(nid)
    return out


def root_executors(plan: Plan, graph: Graph, run_id: int, cap: int | None = None) -> list[tuple[str, int]]:
    """(token, memory_mb) of the executors launched with the run: as many as the flexible roots of
    a configuration, up to ``cap`` (None: the configuration's, ``readiness.executor_cap``)."""
    return [
        (executor_token(run_id, mb, "root", k + 1), mb)
        for mb, nids in sorted(flexible_roots(plan, graph).items())
        for k in range(min(len(nids), readiness.executor_cap(mb) if cap is None else cap))
    ]


def emit(plan: Plan, graph: Graph, run_id: int, executor_cap: int | None = None):
    sigs = []
    for entries, worker, memory_mb in root_branches(plan, graph):
        annotations = {nid: plan.tasks[nid].annotations for nid in entries if plan.tasks[nid].annotations}
        sigs.append(branch_signature(run_id, entries, worker=worker, memory_mb=memory_mb, annotations=annotations))
    executors = root_executors(plan, graph, run_id, executor_cap)
    sigs.extend(executor_signature(run_id, token, mb) for token, mb in executors)
    return group(sigs)


def branch_args(canvas) -> dict[str, dict]:
    """token → {e: entries, w: worker, m: memory_mb} of each signature: how to send it again."""
    out = {}
    for sig in canvas.tasks:
        kwargs = sig.kwargs or {}
        out[sig.options["task_id"]] = {
            "e": list(sig.args[1]),
            "w": kwargs.get("worker"),
            "m": sig.options["headers"][HEADER]["memory_mb"],
        }
    return out


def tokens_of(canvas) -> list[str]:
    return [sig.options["task_id"] for sig in canvas.tasks]
