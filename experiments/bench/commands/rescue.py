"""``bench rescue``: a chain slowed down mid-history, rescue off and on (``bench.rescue``)."""

from __future__ import annotations

import os

from django.core.management.base import CommandError

from experiments.bench.commands import shared
from orchestrator.core import sla as sla_mod

NAMES = ("rescue",)
REPEAT = 3
HELP = (
    "'rescue': a chain of --chain CPU-bound tasks planned on the smallest configuration, --history runs at "
    "the usual pace, then --repeat pairs of runs slowed down --slowdown times, rescue off and on: attainment "
    "of the promise, makespans, GB-seconds (the extra rescue paid) and the at-risk alert's lead time."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("rescue")
    g.add_argument("--chain", type=int, default=8, help="rescue: CPU-bound tasks in the chain (default 8)")
    g.add_argument("--busy", type=float, default=0.1, help="rescue: CPU-seconds per task (default 0.1)")
    g.add_argument("--slowdown", type=float, default=2.0, help="rescue: the injected slow-down (default 2x)")
    g.add_argument("--history", type=int, default=5, help="rescue: runs at the usual pace first (default 5)")


def run(cmd, opts) -> None:
    from experiments.bench import rescue

    if opts["chain"] < 2 or opts["busy"] <= 0 or opts["slowdown"] <= 1 or opts["history"] < 3:
        raise CommandError("--chain must be ≥ 2, --busy > 0, --slowdown > 1 and --history ≥ 3")
    try:
        sla = str(sla_mod.parse(opts["sla"]))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    shared.log(cmd, opts)(f"rescue scenario: load {os.getloadavg()[0]:.2f}")
    steps = opts["history"] + 2 * opts["repeat"]
    with shared.on_cluster(cmd, opts, steps) as bar:
        row = rescue.bench(
            tasks=opts["chain"],
            busy_s=opts["busy"],
            slowdown=opts["slowdown"],
            history=opts["history"],
            pairs=opts["repeat"],
            sla=sla,
            timeout_s=opts["timeout"],
            progress=bar.step,
        )
    shared.write_rows(cmd, opts, [row], _line)


def _line(row: dict) -> str:
    pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
    w, o = row["with"], row["without"]
    return (
        f"{row['workflow']} on {row['memory_mb']} MB, work x{row['slowdown']:g} mid-history, {row['pairs']} pairs, "
        f"promise median {row['promise_median']} s: attainment without rescue {pct(o['attainment'])}, with "
        f"{pct(w['attainment'])} (gain {pct(row['attainment_gain'])}); makespan median {o['makespan_median']} s "
        f"{o['makespan_spread']} vs {w['makespan_median']} s {w['makespan_spread']}; GB-s median "
        f"{o['gb_seconds_median']} {o['gb_seconds_spread']} vs {w['gb_seconds_median']} {w['gb_seconds_spread']} "
        f"(extra {row['extra_gb_seconds']}); re-planned {w['replans']}/{w['runs']}; at-risk alert lead time "
        f"before the deadline median {row['alert_lead_s_median']} s {row['alert_lead_s_spread']} "
        f"({row['alerts']} alerts); load {os.getloadavg()[0]:.2f}"
    )
