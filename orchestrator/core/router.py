"""The one place that knows Celery queue names and Lambda function names.

Each resource configuration is served by its own queue, ``rc-<memory_mb>``;
workers of that queue run every pool process under that configuration's CPU
quota and memory limit. Each such worker also serves its host's queue of the
configuration, ``rc-<memory_mb>@<host>``: a branch whose biggest inputs live
in one host's shared memory is sent there (``store.readiness``). A
configuration on the Lambda executor (``resources.executor_of``) is served by
the function ``<prefix>-<memory_mb>`` instead (``SLAFLOW_LAMBDA_FUNCTION_PREFIX``;
deployed by ``slaflow deploy lambda``); ``workers.transport`` decides
which a message goes to.
"""

from __future__ import annotations

QUEUE_PREFIX = "rc-"
BRANCH_TASK = "workers.tasks.run_branch"
PREWARM_TASK = "workers.tasks.prewarm"


def queue_for(memory_mb: int) -> str:
    return f"{QUEUE_PREFIX}{int(memory_mb)}"


def host_queue_for(memory_mb: int, host: str) -> str:
    """The queue of ``memory_mb``'s workers on ``host`` (``store.tiers.host_id``)."""
    return f"{queue_for(memory_mb)}@{host}"


def memory_of_queue(queue: str) -> int:
    if not queue.startswith(QUEUE_PREFIX):
        raise ValueError(f"{queue!r} is not a slaflow resource-config queue")
    return int(queue[len(QUEUE_PREFIX) :].partition("@")[0])


def function_for(memory_mb: int) -> str:
    """The Lambda function serving ``memory_mb``'s configuration (an operator setting, never user input)."""
    from django.conf import settings

    return f"{settings.SLAFLOW_LAMBDA_FUNCTION_PREFIX}-{int(memory_mb)}"


def all_queues() -> list[str]:
    from orchestrator.core import resources

    return [queue_for(c.memory_mb) for c in resources.configured()]


def route_for(memory_mb: int, host: str = "") -> dict:
    """Message options that send a branch or pre-warm to ``memory_mb``'s queue (on ``host``, if given)."""
    return {"queue": host_queue_for(memory_mb, host) if host else queue_for(memory_mb)}


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router fallback: a slaflow message with no queue set goes to the
    default configuration's queue (never to Celery's unserved ``celery`` queue)."""
    if name not in (BRANCH_TASK, PREWARM_TASK) or options.get("queue"):
        return None
    from orchestrator.core import resources

    return route_for(resources.default().memory_mb)
