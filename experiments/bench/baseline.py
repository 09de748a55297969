"""``bench runtime --baseline DIR``: the same graphs on another checkout of slaflow, in the same invocation.

"No slower than before" is a ratio of two noisy numbers; on a shared machine it means something only when
both sides run side by side under the same load. ``Baseline`` starts a driver process in another checkout
(``DIR``, e.g. ``git worktree add ../before <commit>`` with its own ``.venv``) that runs *that* checkout's
code end to end — its planner, its workers (a local cluster of its own), its data plane — and answers one
request per line on stdin: a graph as a JSON spec, a planner; it replies with the run's makespan, its submit →
result wall time and a digest of the result. The runtime bench alternates: one run here, one run there, for
every repeat, so load drifts hit both.

The two sides never share state: the baseline gets a database of its own (``<name>_baseline`` beside this
one's, created if missing, migrated by its own code) and another Redis database number; with the embedded
defaults each checkout has its own files anyway. The driver uses only names both old and new checkouts have
(``experiments.runner.cluster_if_needed``, ``experiments.bench.runtime.run_slaflow``, the spec parser).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from orchestrator.core.spec import to_spec

DRIVER = r"""
import hashlib, json, os, pickle, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
try:
    from orchestrator.core.spec import from_spec
except ImportError:
    from orchestrator.spec import from_spec
from experiments import runner
from experiments.bench.runtime import run_slaflow
from orchestrator.models import WorkflowRun

out = sys.stdout
sys.stdout = sys.stderr  # the cluster's chatter must not reach the protocol
with runner.cluster_if_needed(log=lambda *a: print(*a, file=sys.stderr)):
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            value, wall, run_id = run_slaflow(from_spec(req["spec"]), req["name"], req["timeout"], req["planner"])
            makespan = WorkflowRun.objects.values_list("makespan_s", flat=True).get(pk=run_id)
            reply = {"makespan": makespan, "wall": wall, "digest": hashlib.sha256(pickle.dumps(value, 4)).hexdigest()}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
"""


class BaselineError(RuntimeError):
    pass


def digest(value) -> str:
    """What the driver replies for a result: equal results, equal digests (same machine, same numpy)."""
    return hashlib.sha256(pickle.dumps(value, 4)).hexdigest()


def _other_redis_db(url: str) -> str:
    parts = urlsplit(url)
    current = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(current + 1) % 16}"))


def _baseline_database(url: str) -> str:
    """``url`` with ``_baseline`` appended to the database name, created on the server if missing."""
    parts = urlsplit(url)
    name = parts.path.strip("/") + "_baseline"
    if parts.scheme.startswith("postgres"):
        import psycopg2

        conn = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{name}"')
        conn.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


class Baseline:
    """Another checkout's slaflow, answering runs over a pipe. Use as a context manager."""

    def __init__(self, directory: str | Path, timeout_s: float = 600.0):
        self.dir = Path(directory).resolve()
        if not (self.dir / "manage.py").is_file() or not (self.dir / "experiments").is_dir():
            raise BaselineError(f"--baseline {directory}: not a slaflow checkout (no manage.py / experiments/)")
        python = self.dir / ".venv" / "bin" / "python"
        self.python = str(python) if python.exists() else sys.executable
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None

    def environment(self) -> dict:
        """This process's environment, pointed at a database and a Redis database of the baseline's own
        (next to the ones this process uses, so a test's baseline stays beside the test's)."""
        from django.conf import settings

        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["PYTHONPATH"] = str(self.dir)
        if env.get("DATABASE_URL"):
            env["DATABASE_URL"] = _baseline_database(env["DATABASE_URL"])
        if env.get("REDIS_URL", "").startswith(("redis://", "rediss://")):
            env["REDIS_URL"] = _other_redis_db(settings.REDIS.client_url)
        return env

    def __enter__(self) -> "Baseline":
        self.proc = subprocess.Popen(
            [self.python, "-u", "-c", DRIVER],
            cwd=self.dir,
            env=self.environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        first = self.proc.stdout.readline()
        if not first:
            raise BaselineError(f"the baseline in {self.dir} exited before it was ready (its stderr is above)")
        return self

    def run(self, graph, name: str, planner: str) -> tuple[str, float, float]:
        """One run of ``graph`` on the baseline: (result digest, wall s, makespan s)."""
        request = {"spec": to_spec(graph, name), "name": name, "planner": planner, "timeout": self.timeout_s}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError:  # a broken pipe: the driver is gone
            line = ""
        else:
            line = self.proc.stdout.readline()
        if not line:
            raise BaselineError(f"the baseline in {self.dir} died during a run of {name}")
        reply = json.loads(line)
        if "error" in reply:
            raise BaselineError(f"the baseline's run of {name} ({planner}) failed: {reply['error']}")
        return reply["digest"], reply["wall"], reply["makespan"]

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()  # the driver leaves its loop and stops its cluster
        except OSError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
