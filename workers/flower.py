"""Flower, the Celery monitor, started with its login out of sight.

Flower's API lists every task's arguments and can stop workers, so it sits
behind basic auth (``SLAFLOW_FLOWER_BASIC_AUTH``, "user:password"). The
credentials never go on a command line, where ``ps`` shows them to every
user of the host: Flower reads its options from ``FLOWER_*`` environment
variables too, so they travel as ``FLOWER_BASIC_AUTH`` in its environment
(readable only by its own user).

Production mode refuses to start Flower without credentials (settings have
already refused the public default, ``envconfig.check_production``); local
mode's default login is public, which is why the local cluster binds Flower
to 127.0.0.1. docker-compose runs::

    python -m workers.flower --port=5555 --address=0.0.0.0

which checks, then becomes ``celery -A orchestrator flower`` (the same
process id, no credentials in its argv).
"""

from __future__ import annotations

import logging
import os
import sys

from orchestrator.core import envconfig

log = logging.getLogger("slaflow.cluster")

AUTH_ENV = "FLOWER_BASIC_AUTH"  # Flower's own variable for --basic-auth


def command(*options: str) -> list[str]:
    """Flower's argv: never its credentials."""
    return [sys.executable, "-m", "celery", "-A", "orchestrator", "flower", *options]


def environment(base: dict, *, mode: str, auth: str) -> dict:
    """``base`` plus Flower's login; refuses (ConfigError naming the variable) what production must not run."""
    env = {k: v for k, v in base.items() if k != AUTH_ENV}
    if mode != "local":
        problem = envconfig.flower_auth_problem(auth)
        if problem:
            raise envconfig.ConfigError(f"SLAFLOW_MODE={mode} refuses to start Flower: {problem}")
    if auth:
        env[AUTH_ENV] = auth
    else:
        log.warning(
            "!!! Flower runs without a login (SLAFLOW_FLOWER_BASIC_AUTH is empty): anyone who reaches "
            "its port sees every task's arguments and can stop workers"
        )
    return env


def main(argv: list[str]) -> None:
    """Check the settings, then become Flower with ``argv`` as its options."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    import django

    django.setup()
    from django.conf import settings

    try:
        env = environment(dict(os.environ), mode=settings.MODE, auth=settings.SLAFLOW_FLOWER_BASIC_AUTH)
    except envconfig.ConfigError as exc:
        sys.exit(str(exc))
    cmd = command(*argv)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main(sys.argv[1:])
