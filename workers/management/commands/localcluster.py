"""python manage.py localcluster [--flower] [--web]: run slaflow's workers until Ctrl-C."""
from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand, CommandError

from workers.embedded_redis import NoRedisServer
from workers.localcluster import LocalCluster


class Command(BaseCommand):
    help = ("Start the embedded Redis (when REDIS_URL is unset) and one autoscaling Celery worker per "
            "resource configuration, optionally Flower and the web UI; Ctrl-C stops everything.")

    def add_arguments(self, parser):
        parser.add_argument("--flower", action="store_true", help="also start Flower (task monitor)")
        parser.add_argument("--web", action="store_true", help="also start the web UI (Django runserver)")
        parser.add_argument("--web-port", type=int, default=8000)
        parser.add_argument("--flower-port", type=int, default=5555)
        parser.add_argument("--max-pool", type=int, default=None, help="pool processes per queue at most")
        parser.add_argument("--loglevel", default="warning", help="Celery worker log level")

    def handle(self, *args, **opts):
        cluster = LocalCluster(flower=opts["flower"], web=opts["web"], web_port=opts["web_port"],
                               flower_port=opts["flower_port"], max_pool=opts["max_pool"],
                               loglevel=opts["loglevel"])
        stopping = False

        def _stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, _stop)
        # Ctrl-C stops the cluster even when started from a script that ignores SIGINT for its
        # background jobs (the ignore would otherwise be inherited and the cluster never stop).
        signal.signal(signal.SIGINT, _stop)
        try:
            cluster.start()
        except NoRedisServer as exc:
            raise CommandError(str(exc)) from None
        try:
            self.stdout.write(self.style.SUCCESS("slaflow local cluster is up:"))
            for line in cluster.describe():
                self.stdout.write("  " + line)
            self.stdout.write("Press Ctrl-C to stop.")
            while not stopping:
                cluster.check_alive()
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("stopping the local cluster…")
            cluster.stop()
            self.stdout.write("stopped.")
