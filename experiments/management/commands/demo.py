"""python manage.py demo: run library workflows on a local cluster and print a results table."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from experiments import runner
from experiments.progress import Progress
from slaflow import workflows

# Small parameters keep the demo to a minute or so on a laptop.
DEMO_RUNS = [
    ("diamond", {}),
    ("tree_reduction", {}),
    ("fanouts_fanins", {}),
    ("wordcount", {}),
    ("fixed_times", {}),
    ("text_analysis", {}),
    ("gemm", {}),
    ("image_transformer", {}),
]
QUICK = {"diamond", "tree_reduction", "wordcount"}


class Command(BaseCommand):
    help = "Run a few library workflows on the local cluster (started if needed) and print a results table."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="only a few small workflows (CI smoke)")
        parser.add_argument("--planner", default="wukong")
        parser.add_argument("--sla", default="p90")
        parser.add_argument("--user", default="demo", help="create this login (password = name) if missing")

    def handle(self, *args, **opts):
        self._ensure_user(opts["user"])
        library = workflows.all_workflows()
        plan = [(n, p) for n, p in DEMO_RUNS if n in library and (not opts["quick"] or n in QUICK)]
        rows = []
        with runner.cluster_if_needed(log=self.stdout.write), Progress(len(plan)) as bar:
            for name, params in plan:
                bar.step(f"running {name}")
                if not bar.live:
                    self.stdout.write(f"running {name}…")
                rows.append(
                    runner.run_and_check(name, planner=opts["planner"], sla=opts["sla"], params=params, timeout_s=600)
                )
        self.stdout.write(_table(rows))
        bad = [r["workflow"] for r in rows if r["status"] != "succeeded" or not r["correct"]]
        if bad:
            raise CommandError(f"wrong or failed: {', '.join(bad)}")
        self.stdout.write(
            self.style.SUCCESS(
                f"all {len(rows)} workflows correct. Next: `slaflow cluster --web` and log in as "
                f"{opts['user']!r} (password {opts['user']!r})."
            )
        )

    def _ensure_user(self, name: str) -> None:
        User = get_user_model()
        if not User.objects.filter(username=name).exists():
            User.objects.create_superuser(username=name, password=name, email="")
            self.stdout.write(f"created login {name!r} with password {name!r} (local demo only; change it)")


def _table(rows: list[dict]) -> str:
    head = ["workflow", "status", "correct", "result", "tasks", "makespan s", "cold", "warm", "GB-s", "enforced"]
    body = []
    for r in rows:
        result = str(r["result"])
        body.append(
            [
                r["workflow"],
                r["status"],
                str(r["correct"]),
                result if len(result) <= 28 else result[:25] + "...",
                str(r["tasks"]),
                f"{r['makespan_s']:.3f}" if r["makespan_s"] is not None else "-",
                str(r["cold_starts"]),
                str(r["warm_starts"]),
                f"{r['gb_seconds'] or 0:.2f}",
                str(r["resources_enforced"]),
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in body]
    return "\n".join(lines)
