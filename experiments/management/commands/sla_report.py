"""python manage.py sla_report NAME [--planner P ...] [--sla S ...] [--skip N] [--first N | --last N] [--json]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from experiments import reports
from orchestrator import cliargs


class Command(BaseCommand):
    help = (
        "SLA calibration of stored runs of a workflow: per planner and SLA, the share of runs that finished "
        "within their promise, the median absolute relative error of the promise (and of the per-task-"
        "percentile estimate), and GB-seconds predicted vs observed. Only succeeded runs with a stored, "
        "non-fallback plan count; --skip drops the oldest (warm-up) runs, --first keeps the oldest after that, "
        "--last the newest. Residuals (observed ÷ typical makespan) show how well the timing model explains "
        "the runs: per run against its plan, and the past runs as the newest plan replayed them."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="workflow name")
        cliargs.add_list_argument(parser, "--planner", help="default: all found")
        cliargs.add_list_argument(parser, "--sla", help="default: all found")
        parser.add_argument("--skip", type=int, default=0, help="ignore this many oldest matching runs")
        parser.add_argument("--first", type=int, default=None, help="keep only this many oldest runs (after --skip)")
        parser.add_argument("--last", type=int, default=None, help="keep only this many newest runs (after --skip)")
        parser.add_argument("--since-run", type=int, default=None, help="only runs with id ≥ this")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        if opts["first"] is not None and opts["last"] is not None:
            raise CommandError("--first and --last exclude each other")
        for key in ("skip", "first", "last"):
            if opts[key] is not None and opts[key] < 0:
                raise CommandError(f"--{key} must be 0 or more, got {opts[key]}")
        groups = reports.stored_runs(
            opts["name"],
            planners=opts["planner"],
            slas=opts["sla"],
            **cliargs.pick(opts, "skip", "last", "since_run", "first"),
        )
        if not groups:
            self.stdout.write(f"no succeeded planned runs of {opts['name']!r} match")
            return
        for (planner, sla), runs in groups.items():
            summary = reports.calibration(runs)
            summary.update(
                {
                    "workflow": opts["name"],
                    "planner": planner,
                    "sla": sla,
                    "run_ids": [runs[0]["run_id"], runs[-1]["run_id"]],
                }
            )
            if opts["json"]:
                self.stdout.write(json.dumps(summary))
            else:
                self.stdout.write(reports.calibration_line(summary))
