"""``bench lambda``: the Lambda executor on the local Lambda endpoint (``bench.lambda_bench``)."""

from __future__ import annotations

from django.core.management.base import CommandError

from experiments.bench.commands import shared
from experiments.progress import Progress
from orchestrator import cliargs

NAMES = ("lambda",)
REPEAT = 3
HELP = (
    "'lambda': the Lambda executor on the local Lambda endpoint: cold vs warm start per memory size "
    "(--memory), mixed runs with one configuration on Lambda and the others on Celery (--lambda-mb, "
    "--workload-name), and the invoke rate of a --width fan-out (docs/howto/lambda.md)."
)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("lambda")
    cliargs.add_list_argument(g, "--memory", help="memory sizes for cold vs warm (default every configuration)")
    g.add_argument(
        "--lambda-mb",
        type=int,
        default=None,
        help="the configuration on Lambda in the mixed runs (default the smallest)",
    )
    cliargs.add_list_argument(
        g, "--workload-name", help="library workflows of the mixed runs (default gemm, big_fanout)"
    )
    g.add_argument("--width", type=int, default=1000, help="the fan-out's width (default 1000)")
    g.add_argument("--concurrency", type=int, default=8, help="the endpoint's concurrency limit (default 8)")
    cliargs.add_list_argument(
        g,
        "--latency-ms",
        default=["0", "50"],
        help="simulated network round trips of the ping-rate part (default 0 and 50: "
        "loopback, and about what WUKONG measured per invoke on AWS)",
    )
    cliargs.add_list_argument(
        g, "--part", choices=["cold-warm", "mixed", "ping-rate"], help="parts to run (default all)"
    )


def run(cmd, opts) -> None:
    from django.conf import settings

    from experiments.bench import lambda_bench

    parts = opts["part"] or ["cold-warm", "ping-rate", "mixed"]
    try:
        memories = [int(m) for m in opts["memory"]] or list(settings.SLAFLOW_RESOURCE_CONFIGS)
    except ValueError:
        raise CommandError(f"--memory takes whole MB, got {opts['memory']}") from None
    if opts["width"] < 1 or opts["concurrency"] < 1:
        raise CommandError("--width and --concurrency must be at least 1")
    rows = []
    steps = (len(memories) * opts["repeat"] if "cold-warm" in parts else 0) + (
        2 * len(opts["latency_ms"]) * opts["repeat"] if "ping-rate" in parts else 0
    )
    with Progress(max(1, steps), enabled=not opts["json"]) as bar:
        try:
            if "cold-warm" in parts:
                rows += lambda_bench.cold_warm(memories, opts["repeat"], progress=bar.step)
            if "ping-rate" in parts:
                for latency in opts["latency_ms"]:
                    rows += lambda_bench.ping_rate(
                        opts["width"],
                        [1, settings.SLAFLOW_LAMBDA_INVOKE_THREADS],
                        opts["repeat"],
                        latency_ms=float(latency),
                        progress=bar.step,
                    )
            if "mixed" in parts:
                rows += lambda_bench.executors(
                    lambda_mb=opts["lambda_mb"] or min(settings.SLAFLOW_RESOURCE_CONFIGS),
                    workflows=opts["workload_name"] or ["gemm", "big_fanout"],
                    width=opts["width"],
                    repeat=opts["repeat"],
                    concurrency=opts["concurrency"],
                    timeout_s=opts["timeout"],
                    progress=bar.step,
                    log=shared.log(cmd, opts),
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    shared.write_rows(cmd, opts, rows)
