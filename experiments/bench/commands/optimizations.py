"""``bench optimizations``: each optimization on against off on its scenario workflow (``bench.optimizations``)."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from experiments.bench import optimizations as opt_bench
from experiments.bench.commands import shared

NAMES = ("optimizations",)
REPEAT = 5
HELP = (
    "'optimizations': each optimization on against off on its scenario workflow (TaskDup: straggler, "
    "PreLoad: scattered_fanin, PreWarm: cold_stage, clustering and delayed I/O: big_fanout, streaming: "
    "big_transfer and stream_pipeline) and the -opt planners against plain ones on tree_reduction and "
    "text_analysis; medians of --repeat pairs after --warmup runs of each."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("optimizations")
    shared.add_subset_argument(g, "--scenario", opt_bench.names(), "scenarios")
    g.add_argument("--warmup", type=int, default=3, help="warm-up runs of each variant first (history)")


def run(cmd, opts) -> None:
    if opts["warmup"] < 0:
        raise CommandError("--warmup must be 0 or more")
    repeat = opts["repeat"]
    steps = opt_bench.steps(opts["scenario"], repeat=repeat, warmup=opts["warmup"])
    with shared.on_cluster(cmd, opts, steps) as bar:
        rows = opt_bench.bench(
            opts["scenario"], repeat=repeat, warmup=opts["warmup"], timeout_s=opts["timeout"], progress=bar.step
        )
    if opts["json"]:
        for row in rows:
            cmd.stdout.write(json.dumps(row))
    else:
        cmd.stdout.write(opt_bench.table(rows))
