"""``bench code``: first use of pushed workflow code against cached and in-process (``bench.code``)."""

from __future__ import annotations

from django.core.management.base import CommandError

from experiments.bench.commands import shared
from experiments.progress import Progress

NAMES = ("code",)
REPEAT = 3
HELP = (
    "'code': first use of pushed workflow code (fetched from the database, verified, cached, imported) "
    "against disk-cached and in-process, for a --code-kb KB module and a wheel of --wheel-modules modules; "
    "medians of --repeat fresh pushes."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("code")
    g.add_argument("--code-kb", type=int, default=64, help="KB of source of the pushed module (default 64)")
    g.add_argument("--wheel-modules", type=int, default=8, help="modules in the pushed wheel (default 8)")
    g.add_argument(
        "--on-workers",
        action="store_true",
        help="also on real workers: each fresh module run twice, the branches' recorded code_s and "
        "startup_s (starts a local cluster when none serves the queues)",
    )


def run(cmd, opts) -> None:
    from experiments.bench import code as code_bench

    if opts["code_kb"] < 1 or opts["wheel_modules"] < 1:
        raise CommandError("--code-kb and --wheel-modules must be at least 1")
    with Progress(opts["repeat"], enabled=not opts["json"]) as bar:
        rows = code_bench.bench(
            repeat=opts["repeat"], code_kb=opts["code_kb"], wheel_modules=opts["wheel_modules"], progress=bar.step
        )
    if opts["on_workers"]:
        with shared.workers(0, cmd.stderr.write), Progress(opts["repeat"], enabled=not opts["json"]) as bar:
            rows += code_bench.bench_on_workers(repeat=opts["repeat"], code_kb=opts["code_kb"], progress=bar.step)
    shared.write_rows(cmd, opts, rows)
