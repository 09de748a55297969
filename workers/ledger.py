"""The run ledger: what the runtime reports about a run, and who writes it down.

While a run goes, the runtime learns things the run's rows must say: a branch
finished some tasks (their observed fields) or ended (its worker start-up
too), the sink's value is the run's result, a task failed so the run fails,
the last branch is out so the run is finalized (metrics aggregated, states
settled, Redis cleaned, a late finish alerted), and — once a second, from the
reaper — how each running run is doing against its promise.

Writing these down is a use case of the services layer (``services.runs``,
``services.metrics``, ``services.alerts``: transitions, bulk rows, alerts and
webhooks). That layer sits *above* the runtime — it submits runs through it
(docs/concepts/architecture.md) — so the runtime may not import it. Instead
the runtime calls the functions below, and the services layer installs the
``Ledger`` that does the writing once per process, when Django is ready
(``orchestrator.apps`` → ``orchestrator.services.ledger.install``). Every
process that runs branches sets Django up first (the Celery worker, the Lambda
handler, tests), so the ledger is always there when a branch reports.

    runtime (layer 6)                    services (layer 7)
    ledger.fail_run(run, ...)  ───────►  runs.fail_run     (installed at start-up)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Ledger:
    """What each report does. Signatures are those of the functions below."""

    record_tasks: Callable[..., None]  # (run_id, run_started_at, records, attempts=1): a batch of finished tasks
    record_branch: Callable[..., None]  # (run_id, run_started_at, records, startup, attempts=1): a branch ended
    store_result: Callable[[int, Any, Any], None]  # (run_id, encoded: bytes or codec.Encoded, value): the sink's
    fail_run: Callable[..., bool]  # (run_id, *, error, traceback, node_id) → True if this call failed it
    finalize_run: Callable[[int], None]  # (run_id): the last branch is out
    track_runs: Callable[[float], Any]  # (now): one pass of live tracking against the promises


class LedgerNotInstalled(RuntimeError):
    pass


_installed: Ledger | None = None


def install(ledger: Ledger) -> None:
    global _installed
    _installed = ledger


def _ledger() -> Ledger:
    if _installed is None:
        raise LedgerNotInstalled("no run ledger installed: set Django up first (orchestrator.apps installs it)")
    return _installed


def record_tasks(run_id: int, run_started_at: float, records: list[dict], attempts: int = 1) -> None:
    """Store task records of a branch that is still running (a batch of its finished tasks)."""
    _ledger().record_tasks(run_id, run_started_at, records, attempts=attempts)


def record_branch(run_id: int, run_started_at: float, records: list[dict], startup: dict, attempts: int = 1) -> None:
    """Store a branch's remaining task records and its worker start-up (one transaction)."""
    _ledger().record_branch(run_id, run_started_at, records, startup, attempts=attempts)


def store_result(run_id: int, data: Any, value: Any) -> None:
    """Store the run's result: ``value``, encoded as ``data`` (``bytes``, or a ``codec.Encoded``, whose
    parts are written as they are)."""
    _ledger().store_result(run_id, data, value)


def fail_run(run_id: int, *, error: str, traceback: str, node_id: str) -> bool:
    """Fail the run (if it still runs); True when this call moved it."""
    return _ledger().fail_run(run_id, error=error, traceback=traceback, node_id=node_id)


def finalize_run(run_id: int) -> None:
    """Called once, by whoever claimed the run's end (``dataplane.claim_finalize_if_idle``, the last branch)."""
    _ledger().finalize_run(run_id)


def track_runs(now: float) -> Any:
    """One pass of live tracking of the running runs against their promise (the reaper, once a second)."""
    return _ledger().track_runs(now)
