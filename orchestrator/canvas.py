"""Plan → Celery signatures.

``emit(plan, graph, run_id)`` returns a ``group`` of root-branch signatures.
Every branch signature — roots here, downstream branches dispatched by
workers — is built by ``branch_signature`` and stamped by ``_stamp``, the one
place that decides a branch's queue, task id and slaflow headers.

A branch is identified by a deterministic token (run, logical worker, entry
nodes): a re-sent branch keeps its id, which the data plane uses to make every
step idempotent.
"""
from __future__ import annotations

import hashlib
import time
from typing import Iterable

from celery import group, signature

from orchestrator import router
from orchestrator.graph import Graph, roots
from orchestrator.planning.plan import Plan

HEADER = "slaflow"


def branch_token(run_id: int, entries: Iterable[str], worker: str | None) -> str:
    entries = sorted(entries)
    digest = hashlib.sha1("\n".join(entries).encode()).hexdigest()[:12]
    return f"r{run_id}-{worker or 'f'}-{digest}"


def _stamp(sig, *, run_id: int, token: str, memory_mb: int, worker: str | None, annotations: dict) -> None:
    sig.set(
        task_id=token,
        headers={
            HEADER: {
                "run_id": run_id,
                "worker": worker,
                "memory_mb": memory_mb,
                "dispatched_at": time.time(),
                "annotations": annotations,
            }
        },
        **router.route_for(memory_mb),
    )


def branch_signature(run_id: int, entries: list[str], *, worker: str | None, memory_mb: int,
                     annotations: dict | None = None):
    entries = list(entries)
    sig = signature(router.BRANCH_TASK, args=(run_id, entries), kwargs={"worker": worker})
    _stamp(sig, run_id=run_id, token=branch_token(run_id, entries, worker), memory_mb=memory_mb,
           worker=worker, annotations=annotations or {})
    return sig


def root_branches(plan: Plan, graph: Graph) -> list[tuple[list[str], str | None, int]]:
    """(entries, worker, memory_mb) per root branch: roots of one logical worker
    share a branch; each flexible root gets its own."""
    by_worker: dict[str, list[str]] = {}
    out: list[tuple[list[str], str | None, int]] = []
    for nid in roots(graph):
        tp = plan.tasks[nid]
        if tp.worker is None:
            out.append(([nid], None, tp.memory_mb))
        else:
            if tp.worker not in by_worker:
                by_worker[tp.worker] = []
                out.append((by_worker[tp.worker], tp.worker, tp.memory_mb))
            by_worker[tp.worker].append(nid)
    return out


def emit(plan: Plan, graph: Graph, run_id: int):
    sigs = []
    for entries, worker, memory_mb in root_branches(plan, graph):
        annotations = {nid: plan.tasks[nid].annotations for nid in entries if plan.tasks[nid].annotations}
        sigs.append(branch_signature(run_id, entries, worker=worker, memory_mb=memory_mb, annotations=annotations))
    return group(sigs)


def tokens_of(canvas) -> list[str]:
    return [sig.options["task_id"] for sig in canvas.tasks]
