"""python manage.py run_workflow NAME [--planner P] [--sla S] [--iterations N] [--param k=v ...]
[--optimizations a b] [--json]

List options take spaces or commas (``orchestrator.cliargs``)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from experiments import runner
from experiments.progress import Progress
from orchestrator import cliargs, planning
from orchestrator.services.submissions import SubmissionError, check_optimizations
from slaflow import workflows


class Command(BaseCommand):
    help = (
        "Run a library workflow on the workers (starting a local cluster for the command's duration when "
        "no worker answers) and report each run. Planners: "
        + ", ".join(planning.names())
        + " ("
        + planning.OPT_NOTE
        + "). With --json, each run's object carries its 'optimizations': event counts "
        "and what each optimization did."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="library workflow: " + ", ".join(workflows.all_workflows()))
        parser.add_argument("--planner", default="wukong", help="how tasks get configurations (default wukong)")
        parser.add_argument("--sla", default="p90", help="'average' or pN, e.g. p90")
        parser.add_argument(
            "--iterations",
            type=int,
            default=1,
            help="runs one after another (default 1); a progress bar with ETA on a terminal",
        )
        cliargs.add_list_argument(parser, "--param", split=cliargs.pairs, metavar="K=V", help="workflow parameters")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each run")
        parser.add_argument("--json", action="store_true", help="one JSON object per run, one per line")
        cliargs.add_list_argument(
            parser,
            "--optimizations",
            default=None,
            metavar="NAME",
            help="optimizations the planner applies by rule (preload, prewarm, taskdup; '' "
            "for none) instead of its own: all of them for the -opt planners",
        )

    def handle(self, *args, **opts):
        try:
            wf = workflows.get(opts["name"])
            # the submission's checks (plain JSON, the task budget) before a cluster is started
            _, params = runner.library_graph(wf.name, runner.parse_params(opts["param"]))
            planning.get(opts["planner"])
        except (KeyError, ValueError) as exc:
            raise CommandError(str(exc).strip('"')) from None
        chosen = None
        if opts["optimizations"] is not None:
            chosen = list(opts["optimizations"])
            try:
                check_optimizations(chosen)
            except SubmissionError as exc:
                raise CommandError(str(exc)) from None
        if opts["iterations"] < 1:
            raise CommandError("--iterations must be at least 1")
        log = (lambda msg: self.stderr.write(msg)) if opts["json"] else self.stdout.write
        failures = 0
        n = opts["iterations"]
        with (
            runner.cluster_if_needed(log=log),
            Progress(n, enabled=n > 1 and not opts["json"], fallback=self.stdout.write) as bar,
        ):
            for i in range(n):
                bar.step(f"{wf.name} run {i + 1}/{n}")
                summary = runner.run_and_check(
                    wf.name,
                    planner=opts["planner"],
                    sla=opts["sla"],
                    params=params,
                    timeout_s=opts["timeout"],
                    optimizations=chosen,
                    watch=_Watch(bar, log if opts["json"] else bar.write, f"{wf.name} run {i + 1}/{n}"),
                )
                failures += summary["status"] != "succeeded" or summary["correct"] is False
                if opts["json"]:
                    self.stdout.write(json.dumps(summary, default=str))
                else:
                    bar.write(_line(i + 1, summary))
        if failures:
            raise CommandError(f"{failures} run(s) did not succeed with a correct result")


class _Watch:
    """The run's live prediction in the progress bar's label, and a line when it turns to a predicted miss."""

    def __init__(self, bar, log, label: str):
        self.bar, self.log, self.label, self.warned = bar, log, label, False

    def __call__(self, run_id: int, live: dict | None) -> None:
        if live is None:
            return
        predicted = live["predicted_makespan_s"]
        self.bar.update(
            self.bar.completed,
            f"{self.label}: predicted {predicted:.2f} s" + (" (will miss)" if live["will_miss"] else ""),
        )
        if live["will_miss"] and not self.warned:
            self.warned = True
            self.log(f"run {run_id}: predicted to miss its promise (predicted {predicted:.2f} s)")


def _line(i: int, s: dict) -> str:
    pred = f"{s['predicted_makespan_s']:.3f}" if s["predicted_makespan_s"] is not None else "-"
    ms = f"{s['makespan_s']:.3f}" if s["makespan_s"] is not None else "-"
    result = json.dumps(s["result"], default=str)
    if len(result) > 40:
        result = result[:37] + "..."
    return (
        f"#{i} run {s['run_id']} {s['workflow']} {s['planner']}/{s['sla']}: {s['status']} "
        f"result={result} correct={s['correct']} makespan={ms}s predicted={pred}s tasks={s['tasks']} "
        f"cold={s['cold_starts']} warm={s['warm_starts']} GB-s={s['gb_seconds'] or 0:.3f}"
        + (f" alerts={','.join(s['alerts'])}" if s.get("alerts") else "")
        + (f" error={s['error']}" if s["error"] else "")
    )
