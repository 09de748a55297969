"""``bench restarts``: Redis and Postgres restarted in the middle of a run.

Each scenario starts private services of its own — a ``redis-server`` on a
free loopback port, a Postgres cluster made with ``initdb`` in a temporary
directory — so restarting them disturbs nobody else, then runs a library
workflow with ``slaflow run`` in a child process (which starts a local
cluster against those services), restarts a service once the run is
running, and reports how the run ended and how long after the restart:

* ``redis-aof``    Redis with an append-only file, killed (SIGKILL) and started again: the run completes;
* ``redis-lost``   Redis without persistence, killed and started empty: the run fails with a clear error
                   (``workers.watchdog``), never hangs;
* ``postgres``     Postgres stopped (fast shutdown) and started again: the run completes.

The workflow is ``fixed_times`` (parallel chains of 1 s sleeps), so the
undisturbed makespan is known: ``length`` seconds plus overhead.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from django.conf import settings

from localcluster.embedded_redis import server_binary

SCENARIOS = ("redis-aof", "redis-lost", "postgres")
POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} within {timeout_s} s")


class PrivateRedis:
    """A redis-server of this scenario's own on a free loopback port."""

    def __init__(self, workdir: Path, aof: bool):
        self.dir, self.aof, self.port = workdir / "redis", aof, free_port()
        self.dir.mkdir(parents=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = server_binary()  # the same redis-server the embedded default would use
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.aof else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self.dir),
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self._answers, 15, f"redis-server on port {self.port} did not answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self, down_s: float) -> None:
        """Killed (no chance to write anything more), started again after ``down_s``; without an
        append-only file it comes back empty."""
        self.kill()
        if not self.aof:
            for leftover in self.dir.iterdir():
                leftover.unlink()
        time.sleep(down_s)
        self.start()


class PrivatePostgres:
    """A Postgres cluster of this scenario's own (initdb in a temporary directory, run as ``postgres`` when
    this process is root, as Postgres refuses to run as root)."""

    def __init__(self, workdir: Path):
        if not POSTGRES_BINS:
            raise RuntimeError(
                "Postgres server binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
            )
        self.bin, self.dir, self.port = POSTGRES_BINS[0], workdir / "pg", free_port()
        self.dir.mkdir(parents=True)
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            owner = pwd.getpwnam(self.user)
            for path in (workdir, self.dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)

    @property
    def url(self) -> str:
        return f"postgres://slaflow@127.0.0.1:{self.port}/slaflow"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stderr.strip() or out.stdout.strip()}")

    def init(self, template: Path | None = None) -> None:
        """A new cluster with an empty ``slaflow`` database, or a copy of ``template`` (a stopped cluster's
        data directory) when given; started."""
        if template is None:
            self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "slaflow")
        else:  # cp -a keeps the owner and the 0700 mode Postgres insists on
            subprocess.run(["cp", "-a", str(template), str(self.dir / "data")], check=True, timeout=120)
        self.start()
        if template is None:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "slaflow", "slaflow")

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def restart(self, down_s: float) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


# A migrated cluster's data directory, made by this process's first scenario and copied by the next ones
# (initdb and the migrations are the same for every scenario); removed when the process exits.
_template: dict[str, Path] = {}


def _keep_template(pg: PrivatePostgres) -> None:
    """The migrated, still empty cluster's data directory copied aside for the next scenarios."""
    keep = Path(tempfile.mkdtemp(prefix="slaflow-restarts-template-"))
    atexit.register(shutil.rmtree, keep, True)
    if pg.user:
        owner = pwd.getpwnam(pg.user)
        os.chown(keep, owner.pw_uid, owner.pw_gid)
    pg.stop()
    subprocess.run(["cp", "-a", str(pg.dir / "data"), str(keep / "data")], check=True, timeout=120)
    pg.start()
    _template["data"] = keep / "data"


def _migrate(env: dict, pg: PrivatePostgres) -> None:
    if "data" in _template:
        return
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    migrated = subprocess.run(
        [*manage, "migrate", "--noinput", "-v", "0"], env=env, capture_output=True, text=True, timeout=300
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"migrate failed: {migrated.stderr[-2000:]}")
    _keep_template(pg)


@contextmanager
def services(scenario: str) -> Iterator[tuple[PrivateRedis, PrivatePostgres]]:
    workdir = Path(tempfile.mkdtemp(prefix="slaflow-restarts-"))
    redis = PrivateRedis(workdir, aof=scenario != "redis-lost")
    pg = PrivatePostgres(workdir)
    try:
        redis.start()
        pg.init(_template.get("data"))
        yield redis, pg
    finally:
        redis.kill()
        try:
            pg.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(workdir, ignore_errors=True)


def _env(redis: PrivateRedis, pg: PrivatePostgres, var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLAFLOW_TEST", "PYTEST"))}
    env.update(
        {
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
            "SLAFLOW_VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _run_status(pg: PrivatePostgres) -> str | None:
    import psycopg2

    try:
        with (
            psycopg2.connect(
                host="127.0.0.1", port=pg.port, user="slaflow", dbname="slaflow", connect_timeout=2
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("select status from orchestrator_workflowrun order by id desc limit 1")
            row = cur.fetchone()
            return row[0] if row else None
    except psycopg2.Error:
        return None


def scenario(
    name: str, *, chains: int = 2, length: int = 8, down_s: float = 2.0, after_s: float = 2.0, timeout_s: float = 240.0
) -> dict:
    """One scenario end to end; returns how the run ended and the times."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}: one of {', '.join(SCENARIOS)}")
    with services(name) as (redis, pg):
        var_dir = Path(pg.dir).parent / "var"
        env = _env(redis, pg, var_dir)
        _migrate(env, pg)
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        cmd = [
            *manage,
            "run_workflow",
            "fixed_times",
            "--param",
            f"chains={chains}",
            "--param",
            f"length={length}",
            "--param",
            "seconds=1",
            "--json",
            "--timeout",
            str(timeout_s),
        ]
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: _run_status(pg) == "running" or child.poll() is not None, 180, "the run did not start")
            time.sleep(after_s)
            t0 = time.monotonic()
            (redis if name.startswith("redis") else pg).restart(down_s)
            out, err = child.communicate(timeout=timeout_s)
            ended_s = time.monotonic() - t0
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    run = rows[-1] if rows else {}
    return {
        "scenario": name,
        "status": run.get("status"),
        "result": run.get("result"),
        "result_ok": run.get("result") == [length] * chains,
        "error": (run.get("error") or "")[:300],
        "makespan_s": run.get("makespan_s"),
        "restart_to_end_s": round(ended_s, 2),
        "down_s": down_s,
        "exit_code": child.returncode,
        "stderr_tail": "" if rows else err[-1500:],
    }
