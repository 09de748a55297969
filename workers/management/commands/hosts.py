"""python manage.py hosts up|down|status: simulated hosts on this machine (localcluster.hosts)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from localcluster import netns
from localcluster.hosts import DEFAULT_SHM_MB, Hosts
from localcluster.launcher import serve_in_foreground


class Command(BaseCommand):
    help = (
        "Simulated hosts on this machine, for multi-host tests and benchmarks (needs root, iproute2, "
        "util-linux, socat). 'up': --hosts network namespaces, each with its own hostname, /dev/shm and "
        f"address on a private switch ({netns.SUBNET}.0/24, inside the namespaces only), each running one "
        "Celery worker per resource configuration against the configured Redis and database (reached "
        "through relays on the host's loopback), until Ctrl-C. 'down': remove what dead harnesses left "
        "behind (a crashed run); live ones are left alone. 'status': the harnesses on this machine."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["up", "down", "status"])
        parser.add_argument("--hosts", type=int, default=2, help="number of hosts (default 2)")
        parser.add_argument("--max-pool", type=int, default=None, help="pool processes per queue per host at most")
        parser.add_argument("--shm-mb", type=int, default=DEFAULT_SHM_MB, help="size of each host's /dev/shm")
        parser.add_argument(
            "--shared-cpus",
            action="store_true",
            help="every host may use every CPU (default: CPUs split between the hosts when there are enough)",
        )
        parser.add_argument("--loglevel", default="warning", help="Celery worker log level")

    def handle(self, *args, **opts):
        try:
            if opts["action"] == "down":
                netns.check_tools()
                swept = netns.sweep()
                self.stdout.write(
                    f"removed {len(swept)} dead harness(es): {', '.join(swept)}" if swept else "nothing to remove"
                )
                return
            if opts["action"] == "status":
                return self.status()
            harness = Hosts(
                opts["hosts"],
                max_pool=opts["max_pool"],
                shm_mb=opts["shm_mb"],
                split_cpus=not opts["shared_cpus"],
                loglevel=opts["loglevel"],
            )
            serve_in_foreground(
                harness,
                banner=f"{harness.count} simulated hosts are up (harness {harness.tag}):",
                what="hosts",
                write=self.stdout.write,
                highlight=self.style.SUCCESS,
            )
        except netns.HostsError as exc:
            raise CommandError(str(exc)) from None

    def status(self):
        tags = netns.harness_tags() if netns.BASE.is_dir() else []
        if not tags:
            self.stdout.write("no hosts harness on this machine")
        for tag in tags:
            state = netns.read_state(tag) or {}
            owner = "running" if netns.owner_alive(tag) else "dead (slaflow hosts down removes it)"
            hosts = ", ".join(f"{h['hostname']} {h['address']}" for h in state.get("hosts", []))
            self.stdout.write(f"{tag}: owner pid {state.get('owner_pid', '?')} {owner}; hosts {hosts or '-'}")
