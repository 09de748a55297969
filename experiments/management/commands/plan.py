"""python manage.py plan NAME [--planner P] [--sla S] [--param k=v ...] [--json]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from experiments import reports, runner
from orchestrator import cliargs, planning
from orchestrator.core import sla as sla_mod
from orchestrator.core.graph import GraphError
from orchestrator.services import previews
from slaflow import workflows


class Command(BaseCommand):
    help = (
        "Print the plan a library workflow would get now (from its history), without running it: per task "
        "the configuration, logical worker, start-up, predicted start/end and the critical path (*). "
        "Planners: " + ", ".join(planning.names()) + f" ({planning.OPT_NOTE})."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="library workflow: " + ", ".join(workflows.all_workflows()))
        parser.add_argument(
            "--planner", default="uniform", help=f"one of {', '.join(planning.names())}; " + planning.OPT_NOTE
        )
        parser.add_argument("--sla", default="p90", help="'average' or pN, e.g. p90")
        cliargs.add_list_argument(parser, "--param", split=cliargs.pairs, metavar="K=V", help="workflow parameters")
        parser.add_argument("--json", action="store_true", help="the full plan as JSON")

    def handle(self, *args, **opts):
        try:
            planning.get(opts["planner"])
            sla = str(sla_mod.parse(opts["sla"]))
            graph, _ = runner.library_graph(opts["name"], runner.parse_params(opts["param"]))
            plan = previews.plan(graph, planner=opts["planner"], sla=sla)
        except (KeyError, ValueError, GraphError) as exc:
            raise CommandError(str(exc).strip('"')) from None
        if opts["json"]:
            self.stdout.write(json.dumps(plan.to_dict(), indent=1, default=str))
            return
        for line in reports.plan_table(plan, graph):
            self.stdout.write(line)
