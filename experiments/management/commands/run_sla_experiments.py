"""python manage.py run_sla_experiments --workflows W ... --planners P ... --slas S ... --out DIR [--resume DIR]"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from experiments import runner
from experiments.campaigns import design, execute, report, results
from experiments.progress import Progress
from orchestrator import cliargs, planning
from slaflow import workflows


class Command(BaseCommand):
    help = (
        "Run an SLA experiment campaign: every workflow × planner × SLA, --iterations runs each after --warmup "
        "runs per workflow × planner that build history, in an order shuffled by --seed. Writes DIR/results.csv "
        "(one row per run) and DIR/report.html (self-contained, opens offline) and prints a summary; a live bar "
        "with ETA on a terminal. Ctrl-C stops after the current run; --resume DIR continues exactly where it "
        "stopped. Starts a local cluster when no worker serves the queues. Planners: "
        + ", ".join(planning.names())
        + "."
    )

    def add_arguments(self, parser):
        cliargs.add_list_argument(
            parser, "--workflows", metavar="W", help="library workflows: " + ", ".join(workflows.all_workflows())
        )
        cliargs.add_list_argument(parser, "--planners", metavar="P", help=", ".join(planning.names()))
        cliargs.add_list_argument(parser, "--slas", metavar="S", help="e.g. average p50 p90 p95")
        parser.add_argument("--iterations", type=int, default=10, help="measured runs per cell (default 10)")
        parser.add_argument(
            "--warmup",
            type=int,
            default=5,
            help="runs per workflow × planner before the measured ones, kept apart (default 5)",
        )
        cliargs.add_list_argument(
            parser,
            "--params",
            split=cliargs.words,
            metavar="W:k=v[,k=v]",
            help="parameters of a workflow, e.g. tree_reduction:n=128,gemm:n=256",
        )
        parser.add_argument("--seed", type=int, default=0, help="shuffles the order of the runs")
        parser.add_argument("--out", help="directory for results.csv and report.html (must not exist)")
        parser.add_argument("--resume", metavar="DIR", help="continue the campaign stored in DIR")
        parser.add_argument("--name", default="", help="a label for the campaign")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take (default 600)")

    def handle(self, *args, **opts):
        try:
            exp = self._experiment(opts)
        except design.CampaignError as exc:
            raise CommandError(str(exc)) from None
        stop = execute.Stop()

        def on_sigint(signum, frame):
            if stop.requested:  # a second Ctrl-C: stop now (the run in flight is waited for on --resume)
                raise KeyboardInterrupt
            stop.requested = True
            self.stderr.write("stopping after the current run (Ctrl-C again to stop at once)…")

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            with (
                runner.cluster_if_needed(log=self.stderr.write),
                Progress(exp.total_runs, completed=exp.done_runs) as bar,
            ):
                exp = execute.run(
                    exp, stop=stop, timeout_s=opts["timeout"], progress=lambda e, label: bar.update(e.done_runs, label)
                )
        except KeyboardInterrupt:
            exp.refresh_from_db()
        finally:
            signal.signal(signal.SIGINT, previous)
        all_rows = results.rows(exp)
        for line in report.summary_lines(exp, all_rows):
            self.stdout.write(line)
        self.stdout.write(f"experiment {exp.pk}: {exp.status}; {exp.out_dir}/results.csv, {exp.out_dir}/report.html")
        if exp.status != exp.Status.FINISHED:
            self.stdout.write(f"resume with: slaflow experiments --resume {exp.out_dir}")

    def _experiment(self, opts):
        if opts["resume"]:
            if opts["out"]:
                raise design.CampaignError("give either --out (a new campaign) or --resume DIR, not both")
            return execute.open_dir(opts["resume"])
        if not opts["out"]:
            raise design.CampaignError("--out DIR is required (where results.csv and report.html go)")
        campaign = design.parse(**cliargs.pick(opts, *design.ARGUMENTS), params=design.parse_params(opts["params"]))
        return execute.create(campaign, out_dir=opts["out"], name=opts["name"])
