"""python manage.py localcluster [--flower] [--web]: run slaflow's workers until Ctrl-C."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from localcluster.embedded_redis import NoRedisServer
from localcluster.launcher import LocalCluster, serve_in_foreground
from orchestrator import cliargs


class Command(BaseCommand):
    help = (
        "Start the embedded Redis (when REDIS_URL is unset) and one autoscaling Celery worker per "
        "resource configuration, optionally Flower and the web UI; Ctrl-C stops everything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--flower", action="store_true", help="also start Flower (task monitor)")
        parser.add_argument("--web", action="store_true", help="also start the web UI (Django runserver)")
        parser.add_argument("--web-port", type=int, default=8000)
        parser.add_argument("--flower-port", type=int, default=5555)
        parser.add_argument("--max-pool", type=int, default=None, help="pool processes per queue at most")
        parser.add_argument("--loglevel", default="warning", help="Celery worker log level")

    def handle(self, *args, **opts):
        cluster = LocalCluster(**cliargs.pick(opts, "flower", "web", "web_port", "flower_port", "max_pool", "loglevel"))
        try:
            serve_in_foreground(
                cluster,
                banner="slaflow local cluster is up:",
                what="local cluster",
                write=self.stdout.write,
                highlight=self.style.SUCCESS,
            )
        except NoRedisServer as exc:
            raise CommandError(str(exc)) from None
