"""``bench store``: one output through each tier of the output store (``bench.store``)."""

from __future__ import annotations

from django.core.management.base import CommandError

from experiments.bench import store as store_bench
from experiments.bench.commands import shared
from experiments.progress import Progress

NAMES = ("store",)
REPEAT = 3
HELP = (
    "'store': one --size-mb MB numpy output through each tier of the output store on this host (Redis, "
    "shared memory, another host's data server over loopback): ms per MB to write and read, and whether "
    "the reader got a copy."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("store")
    g.add_argument("--size-mb", type=int, default=64, help="the output's size in MB (default 64)")


def run(cmd, opts) -> None:
    if opts["size_mb"] < 1:
        raise CommandError("--size-mb must be at least 1")
    with Progress(3, enabled=not opts["json"]) as bar:
        rows = store_bench.bench(size_mb=opts["size_mb"], repeat=opts["repeat"], progress=bar.step)
    if opts["hosts"]:
        if opts["hosts"] < 2:
            raise CommandError("bench store --hosts: at least 2 hosts (one writes, another fetches)")
        with shared.simulated_hosts(opts["hosts"], shared.log(cmd, opts)) as harness:
            rows.append(store_bench.across_hosts(harness, size_mb=opts["size_mb"], repeat=opts["repeat"]))
    shared.write_rows(cmd, opts, rows)
