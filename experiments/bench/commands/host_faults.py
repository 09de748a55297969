"""``bench host-faults``: a simulated host killed mid-run, and one partitioned mid-task (``bench.host_faults``)."""

from __future__ import annotations

import os
import statistics

from django.core.management.base import CommandError

from experiments.bench.commands import shared
from experiments.progress import Progress

NAMES = ("host-faults",)
REPEAT = 3
HELP = (
    "'host-faults': on --hosts simulated hosts (default 3), a host killed mid-run of a --fault-tasks x "
    "--fault-seconds fan-out (time from the kill to the end, makespan beyond the undisturbed one, tasks run "
    "again, result) and a host partitioned mid-task then healed (result, downstream runs, duplicates "
    "prevented by fencing); --repeat each."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("host-faults")
    g.add_argument("--fault-tasks", type=int, default=12, help="tasks of the fan-out a host dies in (default 12)")
    g.add_argument("--fault-seconds", type=float, default=4.0, help="seconds each of those tasks takes (default 4)")


def run(cmd, opts) -> None:
    from experiments.bench import host_faults
    from localcluster.launcher import served_queues
    from localcluster.netns import HostsError

    hosts = opts["hosts"] or 3
    if hosts < 2 or opts["fault_tasks"] < 2 or opts["fault_seconds"] <= 0:
        raise CommandError("host-faults needs --hosts ≥ 2, --fault-tasks ≥ 2 and --fault-seconds > 0")
    if served_queues():
        raise CommandError(
            "host-faults: workers already serve this Redis database's queues (they would take the "
            "hosts' tasks); stop them or use another REDIS_URL database"
        )
    log = shared.log(cmd, opts)
    log(f"starting {hosts} simulated hosts…; load: {os.getloadavg()[0]:.2f}")
    with Progress(2 * opts["repeat"], enabled=not opts["json"]) as bar:
        try:
            rows = host_faults.bench(
                hosts=hosts,
                repeat=opts["repeat"],
                tasks=opts["fault_tasks"],
                seconds=opts["fault_seconds"],
                log=log,
                progress=bar.step,
            )
        except HostsError as exc:
            raise CommandError(str(exc)) from None
    shared.write_rows(cmd, opts, rows)
    if not opts["json"]:
        for label, pick in (
            ("host killed", "beyond_undisturbed_s"),
            ("host killed", "kill_to_done_s"),
            ("host killed", "rerun"),
            ("partition", "duplicates_prevented"),
        ):
            values = [r[pick] for r in rows if pick in r]
            if values:
                cmd.stdout.write(
                    f"{label}: {pick} median {statistics.median(values):g} "
                    f"(min {min(values):g}, max {max(values):g}, n {len(values)})"
                )
    log(f"load: {os.getloadavg()[0]:.2f}")
