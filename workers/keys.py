"""Every Redis key slaflow uses, built in one place.

All per-run keys share the prefix ``sf:run:<id>:`` so a run's data can be
found and deleted together; each also carries a TTL as a backstop.
"""
from __future__ import annotations

PREFIX = "sf"
# Django's cache (API throttle counters) keeps its keys under this prefix.
CACHE_PREFIX = f"{PREFIX}:cache"


def run_prefix(run_id: int) -> str:
    return f"{PREFIX}:run:{run_id}:"


def run_pattern(run_id: int) -> str:
    return run_prefix(run_id) + "*"


def meta(run_id: int) -> str:
    """JSON: the run's spec and compact plan, read once per process."""
    return run_prefix(run_id) + "meta"


def output(run_id: int, node_id: str) -> str:
    return run_prefix(run_id) + f"out:{node_id}"


def deps(run_id: int, node_id: str) -> str:
    """Set of finished upstream ids of a node (its dependency counter)."""
    return run_prefix(run_id) + f"deps:{node_id}"


def claim(run_id: int, node_id: str) -> str:
    """Token of the branch that completed the node's last upstream."""
    return run_prefix(run_id) + f"claim:{node_id}"


def taken(run_id: int) -> str:
    """Hash node → how it was taken: p:/l:/d:/h: + branch token."""
    return run_prefix(run_id) + "taken"


def waiter(run_id: int, node_id: str) -> str:
    """Token of a branch of the node's own logical worker waiting to run it."""
    return run_prefix(run_id) + f"waiter:{node_id}"


def wake(run_id: int, token: str) -> str:
    """List a waiting branch blocks on; nodes handed to it are pushed here."""
    return run_prefix(run_id) + f"wake:{token}"


def done(run_id: int) -> str:
    """Set of node ids that completed."""
    return run_prefix(run_id) + "done"


def states(run_id: int) -> str:
    """Hash node → live task state (running/succeeded/failed), for live views."""
    return run_prefix(run_id) + "states"


def live(run_id: int) -> str:
    """Set of branch tokens dispatched and not yet ended."""
    return run_prefix(run_id) + "live"


def lease(run_id: int, token: str) -> str:
    """Who runs a branch right now: "host:pid:nonce", with a TTL refreshed while it runs."""
    return run_prefix(run_id) + f"lease:{token}"


def deliveries(run_id: int, token: str) -> str:
    return run_prefix(run_id) + f"deliveries:{token}"


def sink_done(run_id: int) -> str:
    """Epoch seconds at which the sink finished (its presence means success)."""
    return run_prefix(run_id) + "sink_done"


def over(run_id: int) -> str:
    """Set when the run failed or was cancelled: branches stop at the next check."""
    return run_prefix(run_id) + "over"


def finalized(run_id: int) -> str:
    return run_prefix(run_id) + "finalized"


def events(run_id: int) -> str:
    """Pub/sub channel of task completions (for preloading consumers)."""
    return run_prefix(run_id) + "events"


def finished_signal(run_id: int) -> str:
    """List pushed once when the run reaches a final state (wakes waiting clients).

    Lives outside the run prefix so cleanup of the run's data does not race
    the client reading it; it expires on its own.
    """
    return f"{PREFIX}:finished:{run_id}"


def prewarm(memory_mb: int, structure_hash: str) -> str:
    return f"{PREFIX}:prewarm:{memory_mb}:{structure_hash}"


def pools() -> str:
    """Hash worker node name → JSON {memory_mb, processes, last_message, at}: each
    configuration worker's live pool, published by its autoscaler (``workers.autoscale``)."""
    return f"{PREFIX}:pools"
