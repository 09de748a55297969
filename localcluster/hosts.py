"""The hosts harness: several slaflow hosts on one machine, for tests and benchmarks of anything that
crosses hosts (outputs fetched from another host, a host lost or cut off).

    with Hosts(2, env=cluster_env()) as hosts:      # or the ``hosts`` fixture, ``slaflow hosts up``,
        a, b = hosts.hosts                          # ``slaflow bench runtime --hosts 2``
        a.hostname, a.address                       # 'h1-3fa9c2', '198.51.100.11'
        a.run(["cat", "/etc/hostname"])             # any command inside host a
        a.set_link(False); a.set_link(True)         # cut / restore a's link to the other hosts
        a.partition(); a.heal()                     # ... and its Redis and Postgres too
        a.kill(); hosts.revive(a)                   # every process of a SIGKILLed, its link down; back
        c = hosts.join()                            # a third host joins while runs execute

Each host (``Host``) is a network + UTS + mount namespace (``localcluster.netns``: its own hostname, its
own ``/dev/shm``, an address on a switch shared with the other hosts) running a ``LocalCluster``: one
Celery worker per resource configuration, as on a real machine, against the central Redis and Postgres
reached through per-host relays (``localcluster.relays``) on the host's own loopback, so the workers use
the usual ``REDIS_URL`` / ``DATABASE_URL`` unchanged. Its processes see ``SLAFLOW_HOST_ADDRESS`` (the
address other hosts reach it at: where a data server listens). When there are at least as many CPUs as
hosts, each host's workers get CPUs of their own (``taskset``), so two hosts on a 2-core machine are
two 1-core machines and publish 1 core each to the planner.

Teardown is complete and safe to repeat: workers stopped, relays killed, namespaces deleted. The
owner's pid is recorded, so a harness whose process crashed is swept (``netns.sweep``) by the next
one, or by ``slaflow hosts down``, while other live harnesses on the machine are left alone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from localcluster import netns, procs, relays
from localcluster.launcher import LocalCluster, start_redis
from orchestrator.core import envconfig

log = logging.getLogger("slaflow.hosts")

DEFAULT_SHM_MB = 4096  # each host's /dev/shm (a tmpfs: only what is written uses memory)


@dataclass
class Host:
    tag: str
    index: int
    hostname: str
    address: str
    cpus: str  # taskset CPU list of its workers ('' = every CPU)
    log_dir: Path
    cluster: LocalCluster | None = None
    relays: dict[str, relays.Relay] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return f"h{self.index}"

    @property
    def netns(self) -> str:
        return netns.netns_name(self.tag, self.role)

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host."""
        return [*netns.enter(self.tag, self.role, str(settings.BASE_DIR)), *argv]

    def run(self, argv: list[str], timeout_s: float = 30.0, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout_s, **kwargs)

    def spawn(self, argv: list[str], *, env: dict | None = None, log_name: str = "proc") -> subprocess.Popen:
        """A long-running process inside this host (its own process group; dies with the harness)."""
        return procs.spawn(
            self.command(argv),
            env=dict(os.environ if env is None else env),
            cwd=str(settings.BASE_DIR),
            log_path=str(self.log_dir / f"{log_name}.log"),
        )

    def pids(self) -> list[int]:
        return netns.pids_in(self.netns)

    # --- faults -------------------------------------------------------------------------------------

    def set_link(self, up: bool) -> None:
        """Connect or cut this host's link to the other hosts (its processes keep running)."""
        netns.set_link(self.tag, self.index, up)

    def link_up(self) -> bool:
        return netns.link_is_up(self.tag, self.index)

    def partition(self) -> None:
        """Cut off from everything: the other hosts, Redis and Postgres (connections hang)."""
        self.set_link(False)
        for relay in self.relays.values():
            relay.pause()

    def heal(self) -> None:
        for relay in self.relays.values():
            relay.resume()
        self.set_link(True)

    def kill(self) -> None:
        """The host dies: every process in it SIGKILLed (nothing restarts them), its link down, its relays gone."""
        if self.cluster is not None:
            self.cluster.stop_supervising()
        self.set_link(False)
        netns.kill_all_in(self.netns)
        for relay in self.relays.values():
            relay.stop()


@dataclass
class Hosts:
    count: int = 2
    memory_configs: tuple[int, ...] = ()
    max_pool: int | None = None
    min_pool: int | None = None
    env: dict = field(default_factory=dict)  # extra environment of every worker (as LocalCluster's)
    shm_mb: int = DEFAULT_SHM_MB
    split_cpus: bool = True
    loglevel: str = "warning"
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    hosts: list[Host] = field(default_factory=list)

    def __post_init__(self):
        if not 1 <= self.count <= 16:
            raise netns.HostsError(f"--hosts {self.count}: between 1 and 16 hosts")
        self.redis = None

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout_s: float = 120.0) -> "Hosts":
        netns.check_tools()
        netns.check_subnet_free()
        swept = netns.sweep()
        if swept:
            log.warning("swept the leftovers of dead hosts harnesses: %s", ", ".join(swept))
        try:
            self._record()  # before anything is made: a crash from here on leaves a sweepable state
            netns.ensure_dirs()
            self.redis = start_redis()
            targets = relays.targets(settings.REDIS.client_url, self._database())
            netns.make_switch(self.tag)
            for index in range(1, self.count + 1):
                self._make_host(index, targets)
            self._record()
            for host in self.hosts:
                host.cluster.launch()
            for host in self.hosts:
                host.cluster.ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> "Hosts":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the workers (warm shutdown), then remove everything; safe after a failed start, twice."""
        try:
            clusters = [host.cluster for host in self.hosts if host.cluster is not None]
            for cluster in clusters:
                cluster.terminate()
            for cluster in clusters:
                cluster.stop()
            for host in self.hosts:
                for relay in host.relays.values():
                    relay.stop()
        finally:
            netns.teardown(self.tag)
            self.hosts.clear()
            if self.redis is not None:
                self.redis.stop()
                self.redis = None

    # --- pieces -------------------------------------------------------------------------------------

    def _database(self) -> dict:
        url = self.env.get("DATABASE_URL") or os.environ.get("DATABASE_URL")
        return envconfig.database_from_url(url) if url else settings.DATABASES["default"]

    def _cpus(self, index: int) -> str:
        cpus = sorted(os.sched_getaffinity(0))
        if not self.split_cpus or self.count > len(cpus):
            return ""
        per = len(cpus) // self.count
        return ",".join(str(c) for c in cpus[(index - 1) * per : index * per])

    def _make_host(self, index: int, targets: list[relays.Target]) -> None:
        role, hostname = f"h{index}", f"h{index}-{self.tag}"
        netns.add_netns(netns.netns_name(self.tag, role))
        netns.make_host(self.tag, role, hostname, self.shm_mb)
        netns.plug(self.tag, role, index)
        log_dir = Path(settings.VAR_DIR) / "logs" / "hosts" / hostname
        log_dir.mkdir(parents=True, exist_ok=True)
        host = Host(self.tag, index, hostname, netns.address(index), self._cpus(index), log_dir)
        self.hosts.append(host)  # from here on, stop() stops what it has
        for target in targets:
            sock = netns.BASE / self.tag / f"{role}-{target.service}.sock"
            relay = host.relays[target.service] = relays.Relay(
                target, sock, netns.enter(self.tag, role), str(log_dir / f"relay-{target.service}.log")
            )
            relay.start()
        # Its data server listens at its address; its readers may fetch outputs from the other hosts' (store/).
        env = {"SLAFLOW_DATA_NETWORKS": f"{netns.SUBNET}.0/24", **self.env, "SLAFLOW_HOST_ADDRESS": host.address}
        wrap = host.command(["taskset", "-c", host.cpus] if host.cpus else [])
        host.cluster = LocalCluster(
            memory_configs=self.memory_configs,
            max_pool=self.max_pool,
            min_pool=self.min_pool,
            env=env,
            loglevel=self.loglevel,
            wrap=tuple(wrap),
            hostname=hostname,
            log_dir=log_dir,
            own_redis=False,
        )

    def _record(self) -> None:
        """The state file the sweep reads: the owner and the root-side processes (relays) to kill."""
        processes = [
            (pid, netns.start_time(pid)) for host in self.hosts for r in host.relays.values() for pid in r.pids()
        ]
        netns.write_state(
            self.tag,
            {
                "owner_pid": os.getpid(),
                "owner_started": netns.start_time(os.getpid()),
                "roles": ["sw"] + [h.role for h in self.hosts],
                "processes": processes,
                "hosts": [{"hostname": h.hostname, "address": h.address, "netns": h.netns} for h in self.hosts],
                "at": time.time(),
            },
        )

    def revive(self, host: Host, timeout_s: float = 120.0) -> None:
        """A killed (or partitioned) host comes back: relays running, link up, its workers started afresh."""
        for relay in host.relays.values():
            if relay.paused:
                relay.resume()
            if not relay.pids():
                relay.start()
        self._record()
        host.set_link(True)
        host.cluster.stop()  # reaps what the kill left
        host.cluster.start(timeout_s)

    def join(self, timeout_s: float = 120.0) -> Host:
        """A new host joins while runs execute: its namespaces, relays and workers made and started like the
        others'. Its workers consume the same queues and publish their pools and cores (``store.pools``),
        so dispatch and planning see it from then on."""
        if len(self.hosts) >= 16:
            raise netns.HostsError("a harness holds 16 hosts at most")
        targets = relays.targets(settings.REDIS.client_url, self._database())
        self._make_host(len(self.hosts) + 1, targets)
        self.count = len(self.hosts)
        self._record()
        host = self.hosts[-1]
        host.cluster.launch()
        host.cluster.ready(timeout_s)
        return host

    def check_alive(self) -> None:
        """Raise if a worker of a host died and will not be restarted."""
        for host in self.hosts:
            host.cluster.check_alive()

    def describe(self) -> list[str]:
        lines = []
        for h in self.hosts:
            lines.append(
                f"{h.hostname}: address {h.address}, netns {h.netns}, CPUs {h.cpus or 'all'}, "
                f"relays {', '.join(f'{r.target.service}:{r.target.port}' for r in h.relays.values())}, "
                f"logs {h.log_dir}"
            )
        return lines


# --- where a run's work and outputs are now (for fault tests and benchmarks) ---------------------------


def running_on(run_id: int) -> dict[str, str]:
    """node → hostname of the process whose lease runs it now (the run's current tasks and their leases)."""
    from store import keys
    from store.redis_client import get_redis

    client = get_redis()
    current = {k.decode(): v.decode() for k, v in client.hgetall(keys.current(run_id)).items()}
    out = {}
    for token, node in current.items():
        holder = client.get(keys.lease(run_id, token))
        if holder:
            out[node] = holder.decode().partition(":")[0]
    return out


def outputs_on(run_id: int) -> dict[str, str]:
    """node → host of each stored output of the run that lives in a host's shared memory."""
    from store import keys, locations
    from store.redis_client import get_redis

    out = {}
    for node, raw in get_redis().hgetall(keys.outputs(run_id)).items():
        loc = locations.decode(raw)
        if loc is not None:
            out[node.decode()] = loc.host
    return out


def busy_host_with_outputs(hosts: list[Host], run_id: int) -> Host | None:
    """A host that holds a finished output of the run in its shared memory and runs one of its tasks now."""
    names = {h.hostname: h for h in hosts}
    both = set(outputs_on(run_id).values()) & set(running_on(run_id).values())
    return next((names[h] for h in sorted(both) if h in names), None)
