"""The services' side of the run ledger (``workers.ledger``): the use cases that write down what the
runtime reports about a run, installed once per process when Django is ready (``orchestrator.apps``)."""
from __future__ import annotations

from workers import ledger


def install() -> None:
    from orchestrator.services import alerts, metrics, runs

    ledger.install(ledger.Ledger(
        record_tasks=metrics.record_tasks, record_branch=metrics.record_branch, store_result=runs.store_result,
        fail_run=runs.fail_run, finalize_run=runs.finalize_run, track_runs=alerts.sweep,
    ))
