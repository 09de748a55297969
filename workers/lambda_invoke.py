"""Asynchronous Lambda invocations: the client, and many of them at once.

``invoke_all`` sends ``(function, event)`` pairs with ``InvocationType="Event"`` (Lambda queues the event
and answers 202 at once), a wide fan-out on a pool of threads (``SLAFLOW_LAMBDA_INVOKE_THREADS``): one
invoke is a ~20-50 ms HTTPS round trip, so 1,000 of them in a row would take tens of seconds. The
client goes to ``SLAFLOW_LAMBDA_ENDPOINT_URL`` when set (a Lambda-compatible endpoint such as
``localcluster.lambda_local``), else to AWS in ``SLAFLOW_AWS_REGION``; credentials come from boto3's usual
chain (the execution role inside Lambda). Function names and the endpoint are operator settings only.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

_lock = threading.Lock()
_clients: dict[tuple, object] = {}
_pools: dict[tuple, ThreadPoolExecutor] = {}


class InvokeError(RuntimeError):
    """Lambda refused an invocation (after boto3's retries)."""


def client():
    """This process's Lambda client (thread-safe; one per endpoint and region)."""
    threads = int(settings.SLAFLOW_LAMBDA_INVOKE_THREADS)
    key = (os.getpid(), settings.SLAFLOW_LAMBDA_ENDPOINT_URL, settings.SLAFLOW_AWS_REGION, threads)
    got = _clients.get(key)
    if got is None:
        import boto3
        from botocore.config import Config

        with _lock:
            got = _clients.get(key)
            if got is None:
                config = Config(
                    max_pool_connections=max(10, threads),
                    retries={"max_attempts": 5, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                )
                got = boto3.session.Session().client(
                    "lambda",
                    region_name=settings.SLAFLOW_AWS_REGION,
                    endpoint_url=settings.SLAFLOW_LAMBDA_ENDPOINT_URL,
                    config=config,
                )
                _clients[key] = got
    return got


def prepare() -> None:
    """In a process that may dispatch to Lambda, make the clients now (boto3 loads its service models: about
    half a second), not on a branch's critical path at its first fan-out."""
    if not settings.SLAFLOW_LAMBDA_CONFIGS:
        return
    client()
    from store import tiers

    bucket = tiers.local().bucket
    if bucket is not None:
        bucket.client()


def invoke(function: str, event: dict) -> None:
    """One asynchronous invocation; raises ``InvokeError`` when Lambda did not accept it."""
    reply = client().invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())
    if reply.get("StatusCode") != 202:
        raise InvokeError(f"Lambda function {function!r} did not accept the event (status {reply.get('StatusCode')})")


def _pool(threads: int) -> ThreadPoolExecutor:
    key = (os.getpid(), threads)
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="slaflow-invoke")
    return pool


def invoke_all(invocations: list[tuple[str, dict]]) -> int:
    """Send every ``(function, event)``, in parallel when there are several; raises the first failure
    once all were tried (the others were sent). Returns how many were sent."""
    if len(invocations) == 1:
        invoke(*invocations[0])
        return 1
    threads = max(1, int(settings.SLAFLOW_LAMBDA_INVOKE_THREADS))
    futures = [_pool(threads).submit(invoke, fn, event) for fn, event in invocations]
    errors = [f.exception() for f in futures]
    failed = [e for e in errors if e is not None]
    if failed:
        raise InvokeError(
            f"{len(failed)} of {len(invocations)} Lambda invocations failed; the first: {failed[0]}"
        ) from failed[0]
    return len(invocations)
