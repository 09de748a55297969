"""What several ``bench`` subcommands share: their common options, the workers they run on, their output.

The options here are the ones more than one subcommand reads (``--json``,
``--repeat``, ``--timeout``, ``--planner``, ``--sla``, ``--seed``, ``--hosts``
and the WfCommons scale of ``runtime --family wfcommons`` and ``calibration
--suite``); the rest belong to one subcommand each and are added by its module.
"""

from __future__ import annotations

import json
import random
from contextlib import contextmanager
from typing import Callable

from django.core.management.base import CommandError

from experiments import runner
from experiments.bench import wfcommons
from experiments.progress import Progress
from orchestrator import cliargs, planning
from orchestrator.core import sla as sla_mod

# The family's slaflow systems: WUKONG (first: its runs are the planned planners' history), WUKONG with
# every optimization, the two planned planners.
FAMILY_PLANNERS = ("wukong", "wukong-opt", "uniform", "non-uniform")


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="measured runs per planner / workload (after a warm-up for runtime), or on/off pairs "
        "per optimization scenario; medians reported (default 3; 5 for optimizations)",
    )
    g = parser.add_argument_group("shared by several benches")
    g.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (planning: default 1; runtime --family wfcommons and calibration --suite: drawn and printed)",
    )
    cliargs.add_list_argument(
        g,
        "--planner",
        help="planners to time or run (planning: default uniform and "
        "non-uniform; runtime: wukong, and for --family wfcommons "
        + ", ".join(FAMILY_PLANNERS)
        + "; runtime also takes PLANNER+OPT[+OPT]: "
        "that planner applying only these optimizations, e.g. uniform+preload, "
        "wukong+none; calibration: the first, default uniform)",
    )
    g.add_argument("--sla", default="p90")
    g.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one slaflow run")
    g.add_argument(
        "--hosts",
        type=int,
        default=0,
        help="run slaflow on this many simulated hosts (network namespaces, needs root) instead of "
        "a local cluster; store: also fetch between two of them through the data server; "
        "host-faults: default 3",
    )
    g = parser.add_argument_group("WfCommons DAGs (runtime --family wfcommons, calibration --suite)")
    cliargs.add_list_argument(
        g,
        "--recipe",
        choices=sorted(wfcommons.RECIPES) + ["all"],
        help="WfCommons recipes (runtime: default "
        + ", ".join(wfcommons.DEFAULT_RECIPES)
        + "; calibration --suite: default all)",
    )
    g.add_argument(
        "--wf-tasks",
        default="30-300",
        metavar="LO-HI",
        help="tasks per instance, drawn in this range (at least the recipe's minimum; default 30-300)",
    )
    g.add_argument(
        "--wf-cpu",
        type=float,
        default=None,
        help="CPU-seconds of an instance (default 12; calibration --suite: the CPU-bound variant's, "
        "default 6, the data-heavy one gets half)",
    )
    g.add_argument(
        "--wf-mb",
        type=float,
        default=None,
        help="MB of outputs of an instance (default 400; --suite: the data-heavy variant's, default 150)",
    )
    g.add_argument(
        "--wf-max-mb",
        type=float,
        default=None,
        help="MB of the largest output (default 50; --suite: the data-heavy variant's, default 15)",
    )


def add_subset_argument(group, flag: str, choices: list[str], what: str) -> None:
    """A list option naming some of ``choices`` (none named: all of them), its help listing them."""
    cliargs.add_list_argument(group, flag, choices=choices, help=f"{what} to run (default all): " + ", ".join(choices))


def log(cmd, opts):
    """Where a bench says what it is doing: stdout, or stderr when stdout carries ``--json`` rows."""
    return cmd.stderr.write if opts["json"] else cmd.stdout.write


def write_rows(cmd, opts, rows, line: Callable[[dict], str] | None = None) -> None:
    """Each row as one JSON object (``--json``) or as ``line(row)`` (default ``key value; key value …``)."""
    for row in rows:
        cmd.stdout.write(json.dumps(row) if opts["json"] else (line or _pairs)(row))


def _pairs(row: dict) -> str:
    return "; ".join(f"{k} {v}" for k, v in row.items())


def planner_and_sla(opts) -> tuple[str, str]:
    """The first ``--planner`` (default uniform) and the ``--sla``, checked."""
    planner = (opts["planner"] or ["uniform"])[0]
    try:
        planning.get(planner)
        return planner, str(sla_mod.parse(opts["sla"]))
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def task_range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not (sep and lo.isdigit() and hi.isdigit() and 2 <= int(lo) <= int(hi)):
        raise CommandError(f"--wf-tasks {text!r} must be LO-HI with 2 ≤ LO ≤ HI, e.g. 30-300")
    return int(lo), int(hi)


def recipes_and_seed(opts, default: list[str]) -> tuple[list[str], int]:
    """The ``--recipe`` list (``default`` when none; ``all``: every recipe) and the seed (drawn when none)."""
    recipes = opts["recipe"] or default
    recipes = list(wfcommons.RECIPES) if "all" in recipes else list(dict.fromkeys(recipes))
    return recipes, random.randrange(1 << 31) if opts["seed"] is None else opts["seed"]


@contextmanager
def on_cluster(cmd, opts, steps: int, **progress):
    """A bench's runs: a local cluster when no worker serves the queues, and a progress bar of ``steps``
    (none with ``--json``), yielded; a bench's ``RuntimeError`` (a run that failed or did not end) is the
    command's error."""
    with runner.cluster_if_needed(log=log(cmd, opts)), Progress(steps, enabled=not opts["json"], **progress) as bar:
        try:
            yield bar
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None


@contextmanager
def workers(hosts: int, log):
    """The workers of a bench: N simulated hosts, or the local cluster when none serves the queues."""
    if not hosts:
        with runner.cluster_if_needed(log=log):
            yield
        return
    from localcluster.launcher import served_queues

    if served_queues():
        raise CommandError(
            "--hosts: workers already serve this Redis database's queues (they would take the "
            "hosts' tasks); stop them or use another REDIS_URL database"
        )
    with simulated_hosts(hosts, log) as harness:
        for line in harness.describe():
            log("  " + line)
        yield


@contextmanager
def simulated_hosts(hosts: int, log):
    """``hosts`` simulated hosts of this machine, stopped afterwards."""
    from localcluster.hosts import Hosts
    from localcluster.netns import HostsError

    log(f"starting {hosts} simulated hosts…")
    with runner.running(lambda: Hosts(hosts).start(), HostsError) as harness:
        yield harness
