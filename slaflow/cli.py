"""The ``slaflow`` command: everyday verbs over the management commands (the same code).

    slaflow demo                                   # library workflows on a local cluster, a results table
    slaflow cluster --web --flower                 # workers for every resource configuration until Ctrl-C
    slaflow run gemm --iterations 3 --sla p50      # a library workflow, one line (or --json object) per run
    slaflow plan image_transformer --planner non-uniform
    slaflow experiments --workflows fixed_times --planners uniform --slas p90 --out var/experiments/a
    slaflow bench planning --tasks 1000
    slaflow status --json                          # hosts, queues, pools, runs in flight
    slaflow code push stats.py                     # workflow code the workers fetch on first use (REST)
    sudo slaflow hosts up --hosts 2                # two simulated hosts (namespaces) with their workers
    slaflow deploy lambda --dry-run                # the Lambda functions it would create (SLAFLOW_LAMBDA_CONFIGS)

``slaflow VERB --help`` shows a verb's options; list options take spaces or commas
(``--slas p50 p90`` = ``--slas p50,p90``). Anything else Django offers: ``slaflow manage COMMAND``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import NamedTuple


class Verb(NamedTuple):
    command: str  # the management command it runs
    summary: str


VERBS: dict[str, Verb] = {
    "demo": Verb("demo", "run a few library workflows on a local cluster and print a results table"),
    "cluster": Verb("localcluster", "workers for every resource configuration (--web, --flower) until Ctrl-C"),
    "run": Verb("run_workflow", "run a library workflow: slaflow run tree_reduction --iterations 3 --json"),
    "plan": Verb("plan", "the plan a library workflow would get now, without running it"),
    "experiments": Verb(
        "run_sla_experiments",
        "an SLA experiment campaign: workflows x planners x SLAs, results.csv and report.html (--resume DIR)",
    ),
    "report": Verb("sla_report", "how well stored runs of a workflow kept their promises"),
    "status": Verb("cluster_status", "the cluster now: hosts, queues, pools, runs in flight (--json)"),
    "hosts": Verb("hosts", "simulated hosts on this machine (network namespaces): up --hosts 2, down, status"),
    "deploy": Verb(
        "deploy", "deploy executors: deploy lambda (one AWS Lambda function per Lambda configuration; --dry-run)"
    ),
    "bench": Verb("bench", "benchmarks: planning, runtime (beside Dask), load, failures, optimizations"),
    "code": Verb("", "push workflow code and share it, over the REST API: code push stats.py, list, show, share"),
    "token": Verb("issue_token", "print a user's REST API token (--create-user to make the user)"),
    "migrate": Verb("migrate", "create or update the database tables"),
    "manage": Verb("", "any Django management command: slaflow manage createsuperuser"),
}

# What a client-only install (slaflow[client]) lacks.
SERVER_MODULES = ("django", "celery", "numpy")

# Django's options every command has; hidden from a verb's --help (they still work).
DJANGO_OPTIONS = {
    "--version",
    "--verbosity",
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--skip-checks",
}


def usage() -> str:
    width = max(map(len, VERBS))
    lines = [
        "usage: slaflow VERB [OPTIONS]   (slaflow VERB --help for a verb's options)",
        "",
        "DAG workflows of Python functions on Celery workers, each run planned to finish within a",
        "completion-time promise (an SLA: average or pN) at the lowest resource cost.",
        "",
        "verbs:",
    ]
    lines += [f"  {name:<{width}}  {verb.summary}" for name, verb in VERBS.items()]
    lines += [
        "",
        "With nothing configured: an SQLite file and an embedded Redis under var/. Set DATABASE_URL and",
        "REDIS_URL to use real services. The web UI and REST API: slaflow cluster --web (http://127.0.0.1:8000/).",
    ]
    return "\n".join(lines)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    import django

    django.setup()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    verb, rest = argv[0], argv[1:]
    if verb == "--version":
        from importlib.metadata import version

        print(f"slaflow {version('slaflow')}")
        return 0
    if verb not in VERBS:
        print(f"slaflow: unknown verb {verb!r}; one of: {', '.join(VERBS)} (slaflow --help)", file=sys.stderr)
        return 2
    if verb == "code":  # a REST client: works with slaflow[client] alone
        from slaflow import code_cli

        return code_cli.main(rest)
    missing = [m for m in SERVER_MODULES if not _installed(m)]
    if missing:
        print(
            f"slaflow: the server side is not installed (no {', '.join(missing)}): pip install 'slaflow[server]'",
            file=sys.stderr,
        )
        return 1
    _django()
    from django.core.management import call_command, execute_from_command_line, get_commands, load_command_class

    if verb == "manage":
        execute_from_command_line(["slaflow manage", *rest])
        return 0
    name = VERBS[verb].command
    if verb == "demo" and not {"-h", "--help"} & set(rest):
        call_command("migrate", interactive=False, verbosity=0)  # a pip-installed slaflow has no Makefile
    command = load_command_class(get_commands()[name], name)
    command.suppressed_base_arguments = DJANGO_OPTIONS
    command.run_from_argv(["slaflow", verb, *rest])  # exits with the command's status on CommandError
    return 0


if __name__ == "__main__":
    sys.exit(main())
