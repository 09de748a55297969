"""How a slaflow message reaches its configuration: the one place that chooses the transport.

Every branch, executor and pre-warm ping is built as a Celery signature (``workers.canvas``,
``orchestrator.optimizations.prewarm.runtime``) routed to its configuration's queue. ``send`` looks at that
configuration's executor (``resources.executor_of``): a ``celery`` one gets the message on its queue, as
always; a ``lambda`` one gets an asynchronous invocation of its function (``router.function_for``) whose
event carries the same task name, arguments, id and slaflow header (``event_of``), and whose handler
(``workers.lambda_handler``) runs it the way the Celery task would. One run may mix both: each message
goes by its own configuration, and a Lambda handler sends its children through here too.

A delay (a branch handed to a pre-warmed process first, ``countdown`` for Celery) travels in a Lambda
event as ``not_before``: the handler waits for it before taking the branch.
"""

from __future__ import annotations

import time
from typing import Iterable

from celery import group

from orchestrator.core import resources, router

EVENT_VERSION = 1


def memory_of(sig) -> int:
    """The configuration a signature is routed to (every slaflow signature names its queue)."""
    return router.memory_of_queue(sig.options["queue"])


def event_of(sig, delay_s: float | None = None) -> dict:
    """The Lambda event carrying ``sig``: what ``workers.lambda_handler`` needs to run it."""
    from workers.canvas import HEADER  # local: canvas loads the planning layer, which a Lambda ping needs not

    event = {
        "v": EVENT_VERSION,
        "task": sig.task,
        "id": sig.options.get("task_id"),
        "args": list(sig.args or ()),
        "kwargs": dict(sig.kwargs or {}),
        "headers": (sig.options.get("headers") or {}).get(HEADER) or {},
    }
    if delay_s:
        event["not_before"] = time.time() + float(delay_s)
    return event


def send(sigs: Iterable, delays: dict[str, float] | None = None) -> int:
    """Send each signature by its configuration's executor; ``delays``: task id → seconds to hold it.
    Returns the messages sent. Lambda invocations of a wide fan-out go out in parallel."""
    delays = delays or {}
    now_celery, later_celery, invocations = [], [], []
    for sig in sigs:
        mb = memory_of(sig)
        delay = delays.get(sig.options.get("task_id") or "")
        if resources.executor_of(mb) == resources.LAMBDA:
            invocations.append((router.function_for(mb), event_of(sig, delay)))
        elif delay:
            later_celery.append((sig, delay))
        else:
            now_celery.append(sig)
    if len(now_celery) > 1:
        group(now_celery).apply_async()
    elif now_celery:
        now_celery[0].apply_async()
    for sig, delay in later_celery:
        sig.apply_async(countdown=delay)
    if invocations:
        from workers import lambda_invoke

        lambda_invoke.invoke_all(invocations)
    return len(now_celery) + len(later_celery) + len(invocations)
