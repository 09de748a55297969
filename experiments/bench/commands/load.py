"""``bench load`` and ``bench failures``: many concurrent runs, and what failures cost (``bench.resilience``)."""

from __future__ import annotations

from django.core.management.base import CommandError

from experiments.bench import resilience
from experiments.bench.commands import shared

NAMES = ("load", "failures")
REPEAT = 3
HELP = (
    "'load': --runs concurrent runs of --run-tasks tasks from --clients threads (submission latency, all "
    "succeeded, total time). 'failures': kill -9 of a worker mid-run, a hung task's time limit, cancelling "
    "hung tasks (needs this machine's local cluster)."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("load")
    g.add_argument("--runs", type=int, default=50, help="concurrent runs (default 50)")
    g.add_argument("--run-tasks", type=int, default=100, help="tasks per run (default 100)")
    g.add_argument("--clients", type=int, default=50, help="submitting threads (default 50)")


def run(cmd, opts) -> None:
    load = opts["what"] == "load"
    if load and min(opts["runs"], opts["run_tasks"], opts["clients"]) < 1:
        raise CommandError("--runs, --run-tasks and --clients must be at least 1")
    steps = 2 * opts["runs"] if load else 3
    with shared.on_cluster(cmd, opts, steps) as bar:
        if load:
            rows = [
                resilience.load(runs=opts["runs"], tasks=opts["run_tasks"], clients=opts["clients"], progress=bar.step)
            ]
        else:
            rows = resilience.failures(progress=bar.step)
    shared.write_rows(cmd, opts, rows)
