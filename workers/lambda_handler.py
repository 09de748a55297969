"""The AWS Lambda entry point: ``handler(event, context)`` runs a branch or a pre-warm ping.

Deployed by ``slaflow deploy lambda`` (handler ``workers.lambda_handler.handler``), one function per
configuration on the Lambda executor; invoked asynchronously by ``workers.transport`` with the
event ``transport.event_of`` makes of a branch's (or ping's) Celery signature. A branch runs exactly as
in a Celery worker (``workers.delivery.start_branch``: lease, stages, hooks, readiness, records) against
the same Redis and database, and its children go out through ``workers.transport`` — invocations
for Lambda configurations, Celery messages for the others.

Cold or warm is what Lambda did: ``_FRESH`` is true in a new execution environment until its first
invocation, and a reused environment is warm however long it sat idle (Lambda, not the keep-alive
window, decides that). The start-up record says ``new-process`` for a fresh one, as a new Celery pool
process does, so both feed the planners' one start-up history. A pre-warm ping loads the run's code and
plan here and returns; the branch that follows is warm if Lambda gives it this environment.

A branch held by another live process (a duplicate delivery) is invoked again after half a lease, the
way the Celery task retries; so is a branch whose hand-off delay (``not_before``) outlasts this
invocation's remaining time.
"""

from __future__ import annotations

import logging
import os
import sys
import time

# In an execution environment (AWS's, or the local endpoint's); not when a test imports this to call it.
IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
if IN_LAMBDA:
    if os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") and not os.environ.get("SLAFLOW_WORKER_MEMORY_MB"):
        os.environ["SLAFLOW_WORKER_MEMORY_MB"] = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    # No host's shared memory is reachable from a Lambda: outputs travel through Redis or the object store.
    os.environ["SLAFLOW_SHM_MIN_BYTES"] = "0"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from orchestrator.core import router  # noqa: E402
from store import dataplane, flags, redis_client  # noqa: E402
from store.lease import Busy  # noqa: E402
from workers import cgroups  # noqa: E402
from workers.context import RunGone, process_state, reset_process_state  # noqa: E402

log = logging.getLogger("slaflow.lambda")

_FRESH = True  # a new execution environment, until its first invocation
_BORN = time.time()


def _init() -> None:
    """Once per execution environment (Lambda's init phase), what a Celery pool process does at start."""
    import importlib

    sys.setswitchinterval(0.0005)
    redis_client.use_worker_budget()
    reset_process_state()
    flags.watcher()
    memory_mb = cgroups.worker_memory_mb() or int(settings.SLAFLOW_DEFAULT_MEMORY_MB)
    if os.environ.get("SLAFLOW_LAMBDA_LOCAL") != "1":  # the local endpoint applied real cgroup limits itself
        cgroups.declare(memory_mb, "AWS Lambda function memory size")
    for module in settings.SLAFLOW_WORKFLOW_MODULES:
        importlib.import_module(module)
    from workers import lambda_invoke

    lambda_invoke.prepare()  # children are invoked from here: the clients are part of the cold start


if IN_LAMBDA:
    _init()


def _remaining_s(context) -> float:
    try:
        return context.get_remaining_time_in_millis() / 1000.0
    except AttributeError:
        return float("inf")


def _again(event: dict, not_before: float) -> dict:
    """Invoke this event again (this function), to run no earlier than ``not_before``."""
    from workers import lambda_invoke

    memory_mb = int((event.get("headers") or {}).get("memory_mb") or cgroups.current().memory_mb)
    lambda_invoke.invoke(router.function_for(memory_mb), {**event, "not_before": not_before})
    return {"kind": "requeued", "id": event.get("id"), "not_before": not_before}


def handler(event: dict, context=None) -> dict:
    global _FRESH
    fresh, _FRESH = _FRESH, False
    if fresh:
        reset_process_state()  # nothing is warm in a new environment
    state = process_state()
    state.reused_environment = not fresh
    task = event.get("task") if isinstance(event, dict) else None
    if task not in (router.BRANCH_TASK, router.PREWARM_TASK):
        raise ValueError(f"not a slaflow event (task {task!r}); expected {router.BRANCH_TASK} or {router.PREWARM_TASK}")
    not_before = float(event.get("not_before") or 0)
    wait = not_before - time.time()
    if wait > 0:
        if wait > _remaining_s(context) - 5.0:
            return _again(event, not_before)
        time.sleep(wait)
    args, kwargs = list(event.get("args") or []), dict(event.get("kwargs") or {})
    if task == router.PREWARM_TASK:
        return {**_prewarm(*args, **kwargs), "fresh": fresh}
    run_id, entries = int(args[0]), list(args[1])
    token = event["id"]
    try:
        from workers import delivery

        delivery.start_branch(
            run_id,
            token,
            entries,
            kwargs.get("worker"),
            kwargs.get("memory_mb"),
            event.get("headers") or {},
            over=dataplane.is_over(run_id),
        )
    except Busy as busy:
        log.info("run %s: branch %s is held by %s; invoking it again later", run_id, token, busy)
        return _again(event, time.time() + max(1.0, float(settings.SLAFLOW_LEASE_S) / 2))
    return {"kind": "branch", "id": token, "fresh": fresh, "pid": os.getpid()}


def _prewarm(structure_hash: str, run_id: int | None = None, target: str = "") -> dict:
    """Load the run's plan, graph and task code (connections too) here, and return."""
    state = process_state()
    memory_mb = cgroups.current().memory_mb
    if run_id is not None:
        try:
            state.prepare(int(run_id))
            if target:
                dataplane.record_prewarmed(int(run_id), target, os.getpid(), memory_mb)
        except RunGone:
            state.warm_up(structure_hash)
    else:
        state.warm_up(structure_hash)
    return {"kind": "prewarm", "pid": os.getpid(), "memory_mb": memory_mb, "target": target}
