"""docker-compose.yml: one worker service per resource configuration, limits matching it."""
from pathlib import Path

import yaml
from django.conf import settings

from orchestrator import router
from orchestrator.envconfig import DEFAULT_RESOURCE_CONFIGS
from orchestrator.resources import ResourceConfig


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
    assert "basic-auth" in " ".join(services["flower"]["command"])
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    env = services["web"]["environment"]
    assert env["SLAFLOW_MODE"] == "production" and env["DJANGO_DEBUG"] == "false"
    assert ":?" in env["DJANGO_SECRET_KEY"]  # compose refuses to start without a key of the user's
