"""docker-compose.yml and the Dockerfile: one worker service per resource configuration, limits matching it;
safe production defaults (issue 23: a password on Redis, Flower's login required and off its command line, its
port on loopback only, explicit allowed hosts, the image unprivileged and in production mode)."""

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings

from orchestrator.core import router
from orchestrator.core.envconfig import DEFAULT_RESOURCE_CONFIGS
from orchestrator.core.resources import ResourceConfig
from tests.waiting import until


def test_compose_has_a_worker_per_config_with_matching_limits():
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "redis", "web", "flower"):
        assert name in services and "healthcheck" in services[name], name
    workers = {n: s for n, s in services.items() if n.startswith("worker-")}
    assert sorted(int(n.split("-")[1]) for n in workers) == list(DEFAULT_RESOURCE_CONFIGS)
    for name, svc in workers.items():
        mb = int(name.split("-")[1])
        assert svc["mem_limit"] == f"{mb}m"
        assert svc["cpus"] == ResourceConfig(mb).cpus
        assert router.queue_for(mb) in svc["command"]
        assert svc["environment"]["SLAFLOW_WORKER_MEMORY_MB"] == str(mb)
        assert "healthcheck" in svc
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    env = services["web"]["environment"]
    assert env["SLAFLOW_MODE"] == "production" and env["DJANGO_DEBUG"] == "false"
    assert ":?" in env["DJANGO_SECRET_KEY"]  # compose refuses to start without a key of the user's


def _compose() -> dict:
    return yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())["services"]


REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]+\}$")  # ${VAR:?message}: compose refuses to start without VAR


def test_compose_asks_for_every_secret_and_names_the_allowed_hosts():
    services = _compose()
    env = services["web"]["environment"]
    site_hosts, _, internal = env["DJANGO_ALLOWED_HOSTS"].partition("},")
    for var, value in (("DJANGO_SECRET_KEY", env["DJANGO_SECRET_KEY"]), ("DJANGO_ALLOWED_HOSTS", site_hosts + "}")):
        assert REQUIRED.match(value) and REQUIRED.match(value).group(1) == var, value
    assert "*" not in env["DJANGO_ALLOWED_HOSTS"]
    # Prometheus scrapes /metrics by the service's name inside the compose network: a name Django allows
    prometheus = yaml.safe_load((Path(settings.BASE_DIR) / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    assert {t.rsplit(":", 1)[0] for t in targets} <= set(internal.split(","))
    flower_auth = services["flower"]["environment"]["SLAFLOW_FLOWER_BASIC_AUTH"]
    assert REQUIRED.match(flower_auth).group(1) == "SLAFLOW_FLOWER_BASIC_AUTH"  # no slaflow:slaflow default


def test_every_service_reaches_redis_with_its_password():
    services = _compose()
    password = services["redis"]["environment"]["REDIS_PASSWORD"]
    assert REQUIRED.match(password).group(1) == "REDIS_PASSWORD"
    assert "requirepass" in " ".join(services["redis"]["command"])
    assert "REDISCLI_AUTH" in " ".join(services["redis"]["healthcheck"]["test"])
    clients = [name for name, svc in services.items() if "REDIS_URL" in svc.get("environment", {})]
    assert set(clients) >= {"web", "flower", "migrate", "worker-512", "worker-1024", "worker-2048"}
    for name in clients:
        url = services[name]["environment"]["REDIS_URL"]
        assert url.startswith("redis://:${REDIS_PASSWORD:?") and url.endswith("}@redis:6379/0"), (name, url)


def test_flowers_login_is_required_and_its_port_only_on_loopback():
    flower = _compose()["flower"]
    command = " ".join(flower["command"])
    assert "workers.flower" in command and "basic-auth" not in command and "FLOWER_BASIC_AUTH" not in command
    assert flower["ports"] == ["127.0.0.1:5555:5555"]


def test_the_image_runs_unprivileged_in_production_mode():
    lines = [line.strip() for line in (Path(settings.BASE_DIR) / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert "ENV SLAFLOW_MODE=production" in lines
    assert lines.index("ENV SLAFLOW_MODE=production") > max(
        i for i, line in enumerate(lines) if "collectstatic" in line
    )


def test_the_compose_redis_command_asks_every_client_for_the_password(tmp_path):
    """The redis service's own command line, run by sh with a real redis-server: a client without the password
    is refused, and the password is not in redis-server's argv (``ps``)."""
    command = _compose()["redis"]["command"]
    assert command[:2] == ["sh", "-c"]
    sock = tmp_path / "redis.sock"
    script = command[2].replace("$$", "$") + f" --port 0 --unixsocket {sock}"
    password = "compose-test-" + os.urandom(8).hex()
    proc = subprocess.Popen(
        ["sh", "-c", script],
        env={**os.environ, "REDIS_PASSWORD": password},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        until(lambda: sock.exists() or proc.poll() is not None, timeout_s=10, what="redis-server to listen")
        assert proc.poll() is None, "redis-server exited"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(unix_socket_path=str(sock)).ping()
        assert redis.Redis(unix_socket_path=str(sock), password=password).ping()
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"redis-server" in argv and password.encode() not in argv
        # persistence: an append-only file, so a restarted Redis keeps queued messages and counters
        info = redis.Redis(unix_socket_path=str(sock), password=password).info("persistence")
        assert info["aof_enabled"] == 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # sh and the redis-server it started (not exec'd: it outlived sh)
        proc.wait(timeout=10)
