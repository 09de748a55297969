"""The local cluster: embedded Redis when needed, one Celery worker per
resource-config queue (autoscaling prefork pool), optionally Flower and the
web server. Used by ``manage.py localcluster``, by ``run_workflow`` when no
worker answers, and by the integration tests.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from localcluster import procs
from localcluster.embedded_redis import EmbeddedRedis
from orchestrator.core import router
from orchestrator.core.resources import ResourceConfig
from workers import cgroups, flower as flower_service

log = logging.getLogger("slaflow.cluster")


@dataclass
class Service:
    name: str
    proc: object
    log_path: str
    url: str = ""
    spawn: object = None  # () → a new process, to restart it
    restarts: list = field(default_factory=list)  # monotonic times of restarts
    due: float | None = None  # when a dead service is started again


# A dead service is started again after 1, 2, 4 … s (at most 30 s); one that died this often within
# RESTART_WINDOW_S is given up on.
RESTART_MAX_BACKOFF_S = 30.0
RESTART_WINDOW_S = 300.0
RESTART_LIMIT = 10


@dataclass
class LocalCluster:
    memory_configs: tuple[int, ...] = ()
    max_pool: int | None = None
    min_pool: int | None = None
    flower: bool = False
    web: bool = False
    web_port: int = 8000
    flower_port: int = 5555
    env: dict = field(default_factory=dict)  # extra environment for every child
    loglevel: str = "warning"
    services: list[Service] = field(default_factory=list)
    redis: EmbeddedRedis | None = None
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    # A simulated host (localcluster.hosts) runs its workers inside its namespaces: the command prefix that
    # enters them, the hostname they see there, logs of their own; the harness, not each host, owns Redis.
    wrap: tuple[str, ...] = ()
    hostname: str | None = None
    log_dir: Path | None = None
    own_redis: bool = True

    def __post_init__(self):
        self.memory_configs = tuple(self.memory_configs or settings.SLAFLOW_RESOURCE_CONFIGS)
        self.max_pool = self.max_pool or settings.SLAFLOW_MAX_POOL
        self.min_pool = settings.SLAFLOW_MIN_POOL if self.min_pool is None else self.min_pool
        self.log_dir = Path(self.log_dir or Path(settings.VAR_DIR) / "logs")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------

    def start(self, timeout_s: float = 60.0) -> "LocalCluster":
        self.launch()
        return self.ready(timeout_s)

    def launch(self) -> "LocalCluster":
        """Start every service without waiting for the workers (``ready`` waits): several clusters,
        e.g. the simulated hosts', start side by side."""
        self._stopping.clear()
        try:
            if self.own_redis:
                self.redis = start_redis()
            enforced, detail = cgroups.probe()
            if not enforced and settings.SLAFLOW_ENFORCE_RESOURCES:
                log.warning("!!! resource limits cannot be enforced here (%s); runs will record enforced=false", detail)
            self.enforced, self.enforcement_detail = enforced, detail
            cgroups.sweep()
            for mb in self.memory_configs:
                self._start_worker(mb)
            if self.flower:
                self._start_flower()
            if self.web:
                self._start_web()
        except BaseException:
            self.stop()
            raise
        return self

    def ready(self, timeout_s: float = 60.0) -> "LocalCluster":
        """Wait until every worker answers, then supervise (restart what dies)."""
        try:
            self.wait_ready(timeout_s)
            self._supervisor = threading.Thread(target=self._supervise, name="cluster-supervisor", daemon=True)
            self._supervisor.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop_supervising(self) -> None:
        """Dead services stay dead from now on (a simulated host that was killed)."""
        self._stopping.set()

    def terminate(self) -> None:
        """Ask every service to stop without waiting (``stop`` waits): several clusters wind down together."""
        self._stopping.set()
        for svc in self.services:
            if svc.proc.poll() is None:
                svc.proc.terminate()

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        # Workers first (warm shutdown returns unacked messages to the queue), Redis last; every worker is
        # asked at once, so their warm shutdowns overlap instead of taking turns.
        for svc in self.services:
            if svc.name.startswith("worker") and svc.proc.poll() is None:
                svc.proc.terminate()
        for svc in reversed(self.services):
            procs.stop(svc.proc, grace_s=10 if svc.name.startswith("worker") else 3)
        self.services.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        try:
            cgroups.sweep()
        except OSError:
            pass

    # --- pieces -------------------------------------------------------------------

    def child_env(self) -> dict:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
        env.update({k: str(v) for k, v in self.env.items()})
        # Pool processes idle longer than the keep-alive window are retired (they start cold next time).
        env.setdefault("AUTOSCALE_KEEPALIVE", str(max(1.0, float(settings.SLAFLOW_KEEPALIVE_S))))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def worker_name(self, memory_mb: int) -> str:
        return f"{router.queue_for(memory_mb)}-{self.suffix}@{self.hostname or os.uname().nodename}"

    def _start_worker(self, memory_mb: int) -> None:
        queue = router.queue_for(memory_mb)
        log_path = str(self.log_dir / f"worker-{queue}.log")
        env = self.child_env()
        env["SLAFLOW_WORKER_MEMORY_MB"] = str(memory_mb)
        # BLAS and OpenMP threads to match the configuration's CPU quota (as Dask's nanny does per worker):
        # more threads than the quota only throttle each other.
        threads = str(max(1, int(ResourceConfig(memory_mb).cpus)))
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, threads)
        cmd = [
            *self.wrap,
            sys.executable,
            "-m",
            "celery",
            "-A",
            "orchestrator",
            "worker",
            "-Q",
            queue,
            "-n",
            self.worker_name(memory_mb),
            f"--autoscale={self.max_pool},{self.min_pool}",
            "--pool=prefork",
            "-E",
            "--without-gossip",
            "--without-mingle",
            "-l",
            self.loglevel,
        ]
        if not self.flower:
            # Heartbeats (an event every 2 s per worker, and the worker-online event) only matter to a
            # monitor: without them Flower lists every worker as offline.
            cmd.append("--without-heartbeat")

        def spawn():
            return procs.spawn(cmd, env=env, cwd=str(settings.BASE_DIR), log_path=log_path)

        self.services.append(Service(f"worker {queue}", spawn(), log_path, spawn=spawn))

    def _start_flower(self) -> None:
        log_path = str(self.log_dir / "flower.log")
        # Its login travels in its environment, never in its argv (``ps`` shows argv to everyone).
        cmd = flower_service.command(f"--port={self.flower_port}", "--address=127.0.0.1")
        env = flower_service.environment(self.child_env(), mode=settings.MODE, auth=settings.SLAFLOW_FLOWER_BASIC_AUTH)

        def spawn():
            return procs.spawn(cmd, env=env, cwd=str(settings.BASE_DIR), log_path=log_path)

        self.services.append(Service("flower", spawn(), log_path, f"http://127.0.0.1:{self.flower_port}/", spawn=spawn))

    def _start_web(self) -> None:
        log_path = str(self.log_dir / "web.log")
        cmd = [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "runserver",
            f"127.0.0.1:{self.web_port}",
            "--noreload",
        ]
        env = self.child_env()

        def spawn():
            return procs.spawn(cmd, env=env, cwd=str(settings.BASE_DIR), log_path=log_path)

        self.services.append(Service("web", spawn(), log_path, f"http://127.0.0.1:{self.web_port}/", spawn=spawn))

    def wait_ready(self, timeout_s: float) -> None:
        from orchestrator.celery import app

        wanted = {self.worker_name(mb) for mb in self.memory_configs}
        deadline = time.monotonic() + timeout_s
        answered: set[str] = set()
        while time.monotonic() < deadline:
            self.check_alive()
            replies = app.control.ping(destination=list(wanted - answered), timeout=0.5) or []
            for reply in replies:
                answered.update(reply)
            if answered >= wanted:
                return
            time.sleep(0.2)
        raise RuntimeError(f"workers did not answer within {timeout_s} s: {sorted(wanted - answered)}")

    def check_alive(self) -> None:
        """Raise if a service died and will not be restarted (during start-up, or given up on)."""
        for svc in self.services:
            if svc.proc.poll() is not None and (self._supervisor is None or svc.spawn is None):
                raise RuntimeError(f"{svc.name} exited with {svc.proc.returncode}:\n{procs.tail(svc.log_path)}")

    def healthy(self) -> bool:
        """Every service is running (none dead or waiting to restart)."""
        return all(svc.proc.poll() is None for svc in self.services)

    def _supervise(self) -> None:
        """Start a dead service again, with back-off, and say so loudly; the rest keeps serving."""
        while not self._stopping.wait(0.25):
            now = time.monotonic()
            with self._lock:
                for svc in self.services:
                    if svc.proc.poll() is None or svc.spawn is None:
                        continue
                    if svc.due is None:
                        recent = [t for t in svc.restarts if now - t < RESTART_WINDOW_S]
                        if len(recent) >= RESTART_LIMIT:
                            log.error(
                                "!!! %s died %d times within %.0f s: not restarting it again (log %s)",
                                svc.name,
                                len(recent),
                                RESTART_WINDOW_S,
                                svc.log_path,
                            )
                            svc.spawn = None
                            continue
                        delay = min(RESTART_MAX_BACKOFF_S, 2.0 ** len(recent))
                        svc.due = now + delay
                        log.warning(
                            "!!! %s exited with %s; restarting it in %.0f s. Last lines of %s:\n%s",
                            svc.name,
                            svc.proc.returncode,
                            delay,
                            svc.log_path,
                            procs.tail(svc.log_path, 10),
                        )
                    if now >= svc.due and not self._stopping.is_set():
                        procs.stop(svc.proc, grace_s=0)  # reap whatever is left of its process group
                        svc.proc = svc.spawn()
                        svc.restarts.append(now)
                        svc.due = None
                        log.warning("!!! %s restarted (pid %s)", svc.name, svc.proc.pid)

    def describe(self) -> list[str]:
        lines = [f"redis: {settings.REDIS.client_url}" + (" (embedded)" if settings.REDIS.embedded else "")]
        for mb in self.memory_configs:
            cfg = ResourceConfig(mb)
            lines.append(
                f"worker {router.queue_for(mb)}: {cfg}, pool 1..{self.max_pool}, "
                f"log {self.log_dir / ('worker-' + router.queue_for(mb) + '.log')}"
            )
        lines.append(
            "resource limits: " + ("enforced (" if self.enforced else "NOT ENFORCED (") + self.enforcement_detail + ")"
        )
        for svc in self.services:
            if svc.url:
                lines.append(f"{svc.name}: {svc.url}")
        return lines


def serve_in_foreground(service, *, banner: str, what: str, write, highlight=lambda text: text) -> None:
    """Start ``service`` (a LocalCluster, the simulated Hosts), say what runs, keep it up until Ctrl-C or
    SIGTERM (raising if a part of it dies for good), then stop it."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    # Ctrl-C stops it even when started from a script that ignores SIGINT for its background jobs
    # (the ignore would otherwise be inherited and it never stop).
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    service.start()
    try:
        write(highlight(banner))
        for line in service.describe():
            write("  " + line)
        write("Press Ctrl-C to stop.")
        while not stopping.wait(0.5):
            service.check_alive()
    except KeyboardInterrupt:
        pass
    finally:
        write(f"stopping the {what}…")
        service.stop()
        write("stopped.")


def start_redis() -> EmbeddedRedis | None:
    """The embedded Redis when it is the configured one and nobody runs it yet (then it is ours to stop);
    either way, Redis answers afterwards."""
    from store.redis_client import check

    redis = None
    if settings.REDIS.embedded:
        redis = EmbeddedRedis(settings.REDIS.socket_path)
        if not redis.start():
            redis = None  # someone else's: leave it running
    check()
    return redis


def served_queues(timeout_s: float = 1.0) -> set[str]:
    """Queues some live worker consumes on the configured broker (none if Redis is down)."""
    from orchestrator.services.health import worker_queues
    from store.redis_client import RedisUnavailable, check

    try:
        check()
    except RedisUnavailable:
        return set()
    return {q for queues in worker_queues(timeout_s).values() for q in queues}


def cluster_needed() -> bool:
    """True when some configured resource-config queue has no worker."""
    return not set(router.all_queues()) <= served_queues()
