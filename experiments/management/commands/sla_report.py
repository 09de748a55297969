"""python manage.py sla_report NAME [--planner P ...] [--sla S ...] [--skip N] [--last N] [--json]"""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from experiments import reports


class Command(BaseCommand):
    help = ("SLA calibration of stored runs of a workflow: per planner and SLA, the share of runs that finished "
            "within their promise, the median absolute relative error of the promise (and of the per-task-"
            "percentile estimate), and GB-seconds predicted vs observed. Only succeeded runs with a stored, "
            "non-fallback plan count; --skip drops the oldest (warm-up) runs, --last keeps the newest.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="workflow name")
        parser.add_argument("--planner", action="append", default=[], help="repeatable; default: all found")
        parser.add_argument("--sla", action="append", default=[], help="repeatable; default: all found")
        parser.add_argument("--skip", type=int, default=0, help="ignore this many oldest matching runs")
        parser.add_argument("--last", type=int, default=None, help="keep only this many newest runs (after --skip)")
        parser.add_argument("--since-run", type=int, default=None, help="only runs with id ≥ this")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        groups = reports.stored_runs(opts["name"], planners=opts["planner"], slas=opts["sla"],
                                     skip=opts["skip"], last=opts["last"], since_run=opts["since_run"])
        if not groups:
            self.stdout.write(f"no succeeded planned runs of {opts['name']!r} match")
            return
        for (planner, sla), runs in groups.items():
            summary = reports.calibration(runs)
            summary.update({"workflow": opts["name"], "planner": planner, "sla": sla,
                            "run_ids": [runs[0]["run_id"], runs[-1]["run_id"]]})
            if opts["json"]:
                self.stdout.write(json.dumps(summary))
            else:
                self.stdout.write(reports.calibration_line(summary))
