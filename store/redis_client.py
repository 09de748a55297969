"""One Redis client per process (re-created after fork).

A command that meets a closed connection, a refused one, a timeout or a server still loading
its data set is tried again with exponential back-off (50 ms doubling to 1 s), then raises.
How long depends on who asks: Celery worker processes, which carry runs, ride out a Redis
restart (``SLAFLOW_REDIS_RETRY_S``, set by ``use_worker_budget`` when a worker starts); every
other process (a web request, a command) retries for ``REQUEST_BUDGET_S`` only, so a web
request answers 503 at once when Redis is down, and a client waiting on a run keeps waiting
by itself (``orchestrator.handles``). Retrying is safe: slaflow's writes are idempotent by
design (a readiness script records an upstream as a set member; outputs are stored
first-copy-wins).
"""

from __future__ import annotations

import os
from typing import Any

import redis
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from store import lua

BACKOFF_BASE_S, BACKOFF_CAP_S = 0.05, 1.0
RETRY_ON = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
REQUEST_BUDGET_S = 1.0
_budget_s: float = REQUEST_BUDGET_S

_client: redis.Redis | None = None
_pid: int | None = None


class RedisUnavailable(RuntimeError):
    pass


def new_client(**options: Any) -> redis.Redis:
    """A client of its own (e.g. for a pub/sub listener thread)."""
    # An explicit read timeout well above the longest blocking read (BLPOP ≤ 5 s in the runtime):
    # redis-py 8 otherwise applies the 5 s connect timeout to reads, and a 5 s BLPOP fails.
    kwargs = {
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "health_check_interval": 30,
        "retry": retry_policy(),
        "retry_on_error": list(RETRY_ON),
    }
    kwargs.update(options)
    return redis.Redis.from_url(settings.REDIS.client_url, **kwargs)


def text(raw: object) -> str:
    """A Redis string reply as text. The client does not decode replies, so they are bytes; redis-py's
    types also allow the str of a decoding client, and a list where a command can return several."""
    if isinstance(raw, bytes):
        return raw.decode()
    if isinstance(raw, str):
        return raw
    raise TypeError(f"a Redis string reply expected, got {type(raw).__name__}")


def retries_within(budget_s: float) -> int:
    """How many back-off steps (50 ms doubling, at most 1 s each) fit in ``budget_s`` seconds."""
    n, waited, step = 0, 0.0, BACKOFF_BASE_S
    while waited + step <= budget_s:
        waited += step
        n += 1
        step = min(BACKOFF_CAP_S, step * 2)
    return n


def retry_policy() -> Retry:
    return Retry(
        ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S), retries_within(_budget_s), supported_errors=RETRY_ON
    )


def use_worker_budget() -> None:
    """This process carries runs (a Celery worker): its commands ride out a Redis restart."""
    global _budget_s
    _budget_s = float(settings.SLAFLOW_REDIS_RETRY_S)
    reset()


def get_redis() -> redis.Redis:
    global _client, _pid
    if _client is None or _pid != os.getpid():
        _client = new_client()
        _pid = os.getpid()
    return _client


_scripts: dict = {}


def script(name: str, body: str) -> Script:
    """A Lua script registered once per client (redis-py runs it by SHA, loading it when needed),
    prefixed with the Lua prelude it uses (``store.lua``: key builders, state names)."""
    client = get_redis()
    key = (name, id(client))
    if key not in _scripts:
        _scripts[key] = client.register_script(lua.with_prelude(body))
    return _scripts[key]


def reset() -> None:
    """Drop this process's connection (cold start, or after fork)."""
    global _client
    if _client is not None:
        try:
            _client.close()
        except redis.RedisError:
            pass
    _client = None


def check() -> None:
    """Raise RedisUnavailable with a hint when Redis does not answer."""
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        hint = (
            "start the local cluster (slaflow cluster) which starts the embedded Redis"
            if settings.REDIS.embedded
            else "check REDIS_URL"
        )
        raise RedisUnavailable(f"Redis at {settings.REDIS.client_url} does not answer ({exc}); {hint}") from None
