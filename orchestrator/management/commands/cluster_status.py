"""python manage.py cluster_status [--json] [--timeout S] (``slaflow status``): hosts, queues, pools, runs in flight."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from orchestrator.services import cluster


class Command(BaseCommand):
    help = (
        "The cluster now: the hosts and workers that answer, messages waiting on each configuration's queue, "
        "each worker's published pool (processes, the host's cores, the per-process CPU quota), and the runs "
        "in flight. Exits 1 when Redis or the database does not answer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object")
        parser.add_argument(
            "--timeout",
            type=float,
            default=1.0,
            help="seconds to wait for workers to answer the broadcast (default 1; 0 skips it)",
        )
        parser.add_argument("--runs", type=int, default=50, help="runs in flight to list at most (default 50)")

    def handle(self, *args, **opts):
        try:
            snap = cluster.snapshot(inspect_timeout_s=opts["timeout"] or None, runs_limit=opts["runs"])
        except Exception as exc:  # Redis or the database is down: say which, not a traceback
            raise CommandError(f"cannot read the cluster: {type(exc).__name__}: {exc}") from None
        if opts["json"]:
            self.stdout.write(json.dumps(snap, default=str))
            return
        for line in lines(snap):
            self.stdout.write(line)


def lines(snap: dict) -> list[str]:
    out = [f"hosts: {', '.join(snap['hosts']) or 'none'}"]
    if "workers" in snap:
        out.append(
            f"workers answering: {len(snap['workers'])}"
            + (f"; queues without a worker: {', '.join(snap['missing_queues'])}" if snap["missing_queues"] else "")
        )
        out += [f"  {w}: {', '.join(qs)}" for w, qs in sorted(snap["workers"].items())]
    out.append("queues (messages waiting):")
    out += [f"  {q}: {n}" for q, n in snap["queues"].items()]
    out.append("pools (published by each worker's autoscaler):")
    if not snap["pools"]:
        out.append("  none published")
    for p in snap["pools"]:
        cpus = f" × {p['cpus']:.2f} CPU" if p.get("cpus") is not None else ""
        out.append(
            f"  {p['worker']} on {p['host']}: {p['queue']} {p['processes']} process(es){cpus}, "
            f"host cores {p['cores']}, {p['age_s']} s ago"
        )
    out.append(f"runs in flight: {len(snap['runs_in_flight'])}")
    out += [
        f"  run {r['run']} {r['workflow']} {r['planner']}/{r['sla']}: {r['status']} for {r['age_s']} s"
        for r in snap["runs_in_flight"]
    ]
    return out
