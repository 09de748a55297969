"""Once across the cluster: ``first(name)`` is True for the first caller anywhere, False for every later one.

Task code sometimes needs to know whether it is the first of several executions
of the same thing — the library's ``straggler`` workflow is slow on its first
execution only, so that a duplicate of it (TaskDup) is fast. The answer has to
be shared by every worker, so it lives in the store; this module is the core's
face of it, so that workflow code (the library, a user's module) asks without
reaching into the store:

    from orchestrator.core import once
    if once.first(f"straggler:{token}:{index}"):
        time.sleep(straggle_s)

The store's implementation (``store.once``: a key set NX with a TTL) is
installed when Django starts (``orchestrator.apps``); ``ttl_s`` bounds how long
a name is remembered. Without an installed one, ``first`` raises.
"""

from __future__ import annotations

from typing import Callable

Backend = Callable[[str, float], bool]

_backend: Backend | None = None


def install(backend: Backend) -> None:
    """Use ``backend(name, ttl_s) -> bool`` for ``first`` (the store's, at start-up)."""
    global _backend
    _backend = backend


def first(name: str, ttl_s: float = 3600.0) -> bool:
    """True exactly once per ``name`` (within ``ttl_s``) across every process of the cluster."""
    if _backend is None:
        raise RuntimeError(
            "orchestrator.core.once has no store installed (orchestrator.apps installs store.once when Django starts)"
        )
    return _backend(name, ttl_s)
