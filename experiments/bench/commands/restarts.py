"""``bench restarts``: Redis and Postgres restarted mid-run, on private services (``bench.restarts``)."""

from __future__ import annotations

from experiments.bench.commands import shared
from experiments.progress import Progress

NAMES = ("restarts",)
REPEAT = 3
HELP = (
    "'restarts': Redis (with and without its append-only file) and Postgres restarted mid-run, on "
    "private services the bench starts (outcome, time from the restart to the run's end)."
)


def add_arguments(parser) -> None:
    pass  # --repeat and --json only


def run(cmd, opts) -> None:
    from experiments.bench import restarts

    rows = []
    with Progress(len(restarts.SCENARIOS) * opts["repeat"], enabled=not opts["json"]) as bar:
        for name in restarts.SCENARIOS:
            for _ in range(opts["repeat"]):
                bar.step(name)
                rows.append(restarts.scenario(name))
    shared.write_rows(cmd, opts, rows, _line)


def _line(row: dict) -> str:
    return (
        f"{row['scenario']}: {row['status']} (result correct: {row['result_ok']}), "
        f"restart -> command done {row['restart_to_end_s']} s, makespan {row['makespan_s']}"
        + (f", error: {row['error']}" if row["error"] else "")
    )
