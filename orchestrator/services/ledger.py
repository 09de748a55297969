"""The services' side of the run ledger (``workers.ledger``): the use cases that write down what the
runtime reports about a run, installed once per process when Django is ready (``orchestrator.apps``).

The use cases are imported on the first report, not at installation: starting Django (every web and
command process, and a worker's programs' own processes) must not import Redis or the services."""

from __future__ import annotations

from workers import ledger


def _services():
    from orchestrator.services import alerts, metrics, runs

    return alerts, metrics, runs


def install() -> None:
    ledger.install(
        ledger.Ledger(
            record_tasks=lambda *a, **k: _services()[1].record_tasks(*a, **k),
            record_branch=lambda *a, **k: _services()[1].record_branch(*a, **k),
            store_result=lambda *a, **k: _services()[2].store_result(*a, **k),
            fail_run=lambda *a, **k: _services()[2].fail_run(*a, **k),
            finalize_run=lambda *a, **k: _services()[2].finalize_run(*a, **k),
            track_runs=lambda *a, **k: _services()[0].sweep(*a, **k),
        )
    )
