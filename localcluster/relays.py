"""Relays: how a simulated host reaches the central Redis and Postgres without any new address.

A host (``localcluster.netns``) has its own network namespace, so ``127.0.0.1:6379`` inside it is its own
loopback, where nothing listens. A relay makes the central service appear there, on the same port, so
the host's processes use the very same ``REDIS_URL`` / ``DATABASE_URL`` as everyone else:

    host namespace                               root namespace
    client → 127.0.0.1:6379 → socat ─ Unix socket (BASE/<tag>/h1-redis.sock) ─ socat → 127.0.0.1:6379 (Redis)

Each side is one ``socat`` (forking a child per connection) in a process group of its own, started by
this harness, so a fault is a signal to two groups: ``pause`` (SIGSTOP: connections hang, like a
black-holed network), ``resume``, ``stop`` (connections reset, new ones refused) and ``start``
again. Only loopback addresses and a Unix socket in the harness's directory are ever used.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from localcluster import netns, procs

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# socat's copy buffer: with its default (8 KiB) a 50 MB GET through the relay took twice as long as a
# direct one (0.22 against 0.46 GB/s); with 1 MiB they measured within the noise of a loaded machine.
BUFFER = 1 << 20


@dataclass(frozen=True)
class Target:
    """A central service reachable on a loopback TCP port."""

    service: str  # "redis" | "postgres"
    port: int


def targets(redis_url: str, database: dict) -> list[Target]:
    """The services the hosts must reach, from the client settings. Unix sockets and SQLite files need
    no relay (the hosts share the filesystem); a non-loopback address is refused (the harness contacts
    nothing but loopback and its own namespaces)."""
    out = []
    parsed = urlparse(redis_url)
    if parsed.scheme in ("redis", "rediss"):
        out.append(Target("redis", _loopback_port("REDIS_URL", parsed.hostname, parsed.port or 6379)))
    if database.get("ENGINE", "").endswith("postgresql") and not str(database.get("HOST") or "").startswith("/"):
        out.append(
            Target(
                "postgres",
                _loopback_port("DATABASE_URL", database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432)),
            )
        )
    return out


def _loopback_port(what: str, host: str | None, port: int) -> int:
    if (host or "127.0.0.1") not in LOOPBACK_HOSTS:
        raise netns.HostsError(f"{what} points at {host}: the hosts harness relays loopback services only")
    return int(port)


@dataclass
class Relay:
    """One service made reachable inside one host."""

    target: Target
    socket: Path
    enter: list[str]  # the host's nsenter prefix
    log_path: str
    inner: object = None  # Popen of the socat inside the host
    outer: object = None  # Popen of the socat in the root namespace
    paused: bool = field(default=False)

    def start(self, timeout_s: float = 10.0) -> "Relay":
        port = self.target.port
        self.socket.unlink(missing_ok=True)
        outer = [
            "socat",
            "-b",
            str(BUFFER),
            f"UNIX-LISTEN:{self.socket},fork,mode=600,unlink-early",
            f"TCP:127.0.0.1:{port},nodelay",
        ]
        inner = [
            *self.enter,
            "socat",
            "-b",
            str(BUFFER),
            f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=256,nodelay",
            f"UNIX-CONNECT:{self.socket}",
        ]
        self.outer = procs.spawn(outer, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, cwd="/", log_path=self.log_path)
        self.inner = procs.spawn(inner, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, cwd="/", log_path=self.log_path)
        self.paused = False
        deadline = time.monotonic() + timeout_s
        while not (self.socket.exists() and _listening(self.inner.pid, port)):
            for p in (self.outer, self.inner):
                if p.poll() is not None:
                    raise netns.HostsError(f"the {self.target.service} relay exited: {procs.tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise netns.HostsError(f"the {self.target.service} relay did not listen within {timeout_s} s")
            time.sleep(0.02)
        return self

    def pids(self) -> list[int]:
        return [p.pid for p in (self.outer, self.inner) if p is not None and p.poll() is None]

    def _signal(self, sig: int) -> None:
        for pid in self.pids():
            procs.signal_group(pid, sig)

    def pause(self) -> None:
        """Connections hang (no data flows either way) until ``resume``."""
        self._signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        """Every connection through the relay is reset; new ones are refused until ``start``."""
        self._signal(signal.SIGCONT)
        for p in (self.inner, self.outer):
            if p is not None:
                procs.stop(p, grace_s=0, first=signal.SIGKILL)
        self.inner = self.outer = None
        self.socket.unlink(missing_ok=True)


def _listening(pid: int, port: int) -> bool:
    """Whether 127.0.0.1:port listens in process ``pid``'s network namespace (its /proc view)."""
    want = f"0100007F:{port:04X}"
    try:
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(cols[1] == want and cols[3] == "0A" for cols in (line.split() for line in lines))
