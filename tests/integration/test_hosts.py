"""The simulated hosts (localcluster.hosts) on real namespaces, real workers, the real Redis and Postgres:
each host is its own machine to the workers, runs span both, hosts reach each other only at their
namespace addresses, and nothing is left behind."""

import hashlib
import json
import os
import subprocess
import sys

import dask
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from experiments.bench import runtime as runtime_bench, workloads
from localcluster import netns
from localcluster.hosts import Hosts
from orchestrator.handles import RunHandle
from orchestrator.models import TaskRun
from slaflow import submit
from tests import taskfns as t
from tests.waiting import until

pytestmark = [pytest.mark.integration]


def _root_addresses() -> list:
    """Every interface and address of the root network namespace."""
    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout
    return sorted((i["ifname"], a["local"]) for i in json.loads(out) for a in i.get("addr_info", []))


def _uts_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/uts").st_ino


def test_each_host_is_its_own_machine(hosts):
    a, b = hosts.hosts
    assert a.hostname != b.hostname
    for host in (a, b):
        assert host.run(["hostname"]).stdout.strip() == host.hostname
        assert host.run(["ip", "-j", "addr", "show", "eth0"]).stdout.count(host.address) == 1
        # Every worker process lives in its host's UTS namespace (so it reports the host's name) and
        # answers under that name.
        uts = os.stat(netns.ns_files(host.tag, host.role)[1]).st_ino
        workers = [s for s in host.cluster.services if s.name.startswith("worker")]
        assert len(workers) == len(host.cluster.memory_configs)
        assert all(_uts_inode(w.proc.pid) == uts for w in workers)
        assert all(
            name.endswith("@" + host.hostname) for name in map(host.cluster.worker_name, host.cluster.memory_configs)
        )
    assert _uts_inode(os.getpid()) != os.stat(netns.ns_files(a.tag, a.role)[1]).st_ino


def test_shared_memory_is_per_host(hosts):
    a, b = hosts.hosts
    mark = f"mark-{os.getpid()}"
    assert a.run(["sh", "-c", f"echo {a.hostname} > /dev/shm/{mark}"]).returncode == 0
    assert a.run(["cat", f"/dev/shm/{mark}"]).stdout.strip() == a.hostname
    assert b.run(["test", "-e", f"/dev/shm/{mark}"]).returncode == 1
    assert not os.path.exists(f"/dev/shm/{mark}")
    assert "slaflow-shm" in a.run(["findmnt", "-n", "-o", "SOURCE", "/dev/shm"]).stdout


SERVER = (
    "import socket, sys; s = socket.create_server((sys.argv[1], 7070)); print('ready', flush=True); "
    "c, _ = s.accept(); c.sendall(socket.gethostname().encode() + b' ' + c.recv(64)); c.close()"
)
CLIENT = (
    "import socket, sys; c = socket.create_connection((sys.argv[1], 7070), timeout=5); c.sendall(b'hello'); "
    "c.shutdown(socket.SHUT_WR); print(c.recv(128).decode())"
)


def test_hosts_reach_each_other_at_their_addresses_only(hosts):
    a, b = hosts.hosts
    before = _root_addresses()
    server = a.spawn([sys.executable, "-c", SERVER, a.address], log_name="test-server")
    try:
        until(lambda: "ready" in open(a.log_dir / "test-server.log").read(), timeout_s=20, what="server up")
        reply = b.run([sys.executable, "-c", CLIENT, a.address])
        assert reply.stdout.strip() == f"{a.hostname} hello", reply
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
    # The root namespace gained no interface or address (it has no route to the hosts either).
    assert _root_addresses() == before
    assert not any(a.address in addr or b.address in addr for _, addr in before)


def test_cut_link_isolates_a_host_from_the_others(hosts):
    a, b = hosts.hosts
    probe = [
        sys.executable,
        "-c",
        "import socket, sys; socket.create_connection((sys.argv[1], 9), timeout=1)",
        a.address,
    ]
    # Port 9 is closed on a: with the link up the connection is refused at once; with it down it times out.
    assert "refused" in b.run(probe).stderr.lower()
    a.set_link(False)
    try:
        assert not a.link_up()
        assert "timed out" in b.run(probe).stderr.lower()
    finally:
        a.set_link(True)
    assert a.link_up()
    assert "refused" in b.run(probe).stderr.lower()


def test_a_run_spans_both_hosts_with_the_right_result(hosts, transactional_db):
    _run_across_hosts(hosts)


def _run_across_hosts(hosts):
    """A fan-out of 12 × 0.6 s, 2 MB each, into a checksum: too much for one host's pools to take all."""
    n, mb = 12, 2
    run = submit(t.checksum_all([t.payload(i, mb, 0.6) for i in range(n)]), name="hosts-fanin")
    expected = hashlib.sha256(b"".join(t.payload.fn(i, mb).tobytes() for i in range(n))).hexdigest()
    assert run.result(timeout=120) == expected
    rows = TaskRun.objects.filter(run_id=run.id)
    assert rows.count() == n + 1 and all(r.status == "succeeded" for r in rows)
    assert {r.host for r in rows} == {h.hostname for h in hosts.hosts}


def test_the_wfcommons_family_runs_on_the_hosts(hosts, transactional_db):
    (case,) = runtime_bench.wfcommons_cases(
        ["epigenomics"], seed=3, tasks=(40, 45), cpu_s=1.0, total_mb=30, max_mb=6, cores=2
    )
    (row,) = runtime_bench.bench([case], repeat=1, with_dask=False, with_breakdown=False, planners=["wukong"])
    assert row.results_equal and row.slaflow_makespan[0] > 0
    dsk, key = workloads.dask_graph(case.graph)
    assert TaskRun.objects.get(run_id=row.run_ids[0], node_id="collect").status == "succeeded"
    assert RunHandle(row.run_ids[0]).result(timeout=5) == dask.get(dsk, key)
    assert {r.host for r in TaskRun.objects.filter(run_id=row.run_ids[0])} <= {h.hostname for h in hosts.hosts}


def test_bench_on_hosts_refuses_when_other_workers_serve_the_queues(hosts):
    with pytest.raises(CommandError, match="--hosts: workers already serve"):
        call_command("bench", "runtime", "--workload", "chain", "--size", "chain=3", "--no-dask", "--hosts", "2")


def test_a_crashed_harness_is_swept_and_a_live_one_is_not(hosts, django_db_blocker):
    """A harness whose owner died (its state names a dead process) is removed whole by the next sweep;
    the running fixture's harness is left alone."""
    from tests.conftest import cluster_env

    with django_db_blocker.unblock():
        env = cluster_env()
    code = (
        "import os, django; django.setup(); from localcluster.hosts import Hosts; "
        f"h = Hosts(1, memory_configs=(512,), max_pool=1, env={env!r}); h.start(); "
        "print(h.tag, flush=True); os._exit(0)"
    )  # dies without tearing down
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    tag = done.stdout.split()[-1] if done.stdout.split() else ""
    assert tag and netns.read_state(tag), done.stderr
    assert netns.netns_name(tag, "h1") in netns.netns_names()
    # Its workers died with their owner (they were started to die with it); the namespaces remain.
    assert tag in netns.sweep()
    assert not any(name.startswith(f"{netns.PREFIX}-{tag}-") for name in netns.netns_names())
    assert not list(netns.NS_DIR.glob(f"{tag}-*")) and not (netns.BASE / tag).exists()
    assert netns.owner_alive(hosts.tag) and netns.netns_name(hosts.tag, "h1") in netns.netns_names()


def test_teardown_leaves_nothing(django_db_setup, redis_server, hosts):
    before = _root_addresses()
    harness = Hosts(1, memory_configs=(512,), max_pool=1, env=hosts.env).start()
    host = harness.hosts[0]
    pids = {pid: netns.start_time(pid) for pid in host.pids()}
    assert pids and netns.netns_name(harness.tag, "h1") in netns.netns_names()
    harness.stop()
    harness.stop()  # twice is fine
    assert not any(name.startswith(f"{netns.PREFIX}-{harness.tag}-") for name in netns.netns_names())
    assert not list(netns.NS_DIR.glob(f"{harness.tag}-*")) and not (netns.BASE / harness.tag).exists()
    assert not any(netns.alive(pid, started) for pid, started in pids.items())
    assert _root_addresses() == before


def test_hosts_command_brings_hosts_up_and_down(hosts, django_db_blocker):
    from tests.conftest import cluster_env

    with django_db_blocker.unblock():
        env = {**os.environ, "PYTHONPATH": str(settings.BASE_DIR), **cluster_env()}
    slaflow, base = os.path.join(os.path.dirname(sys.executable), "slaflow"), str(settings.BASE_DIR)
    up = subprocess.Popen(
        [slaflow, "hosts", "up", "--hosts", "2", "--max-pool", "1"],
        env=env,
        text=True,
        cwd=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        lines = []
        until(
            lambda: lines.append(up.stdout.readline()) or "Press Ctrl-C" in lines[-1] or up.poll() is not None,
            timeout_s=120,
            what="hosts up",
        )
        out = "".join(lines)
        assert "2 simulated hosts are up" in out, out + (up.stdout.read() if up.poll() is not None else "")
        tag = out.split("(harness ")[1].split(")")[0]
        status = subprocess.run([slaflow, "hosts", "status"], env=env, cwd=base, capture_output=True, text=True).stdout
        assert f"{tag}: owner pid {up.pid} running" in status and f"{netns.SUBNET}.12" in status
        up.send_signal(subprocess.signal.SIGTERM)
        assert up.wait(timeout=60) == 0
    finally:
        up.kill()
    assert not any(name.startswith(f"{netns.PREFIX}-{tag}-") for name in netns.netns_names())
    down = subprocess.run([slaflow, "hosts", "down"], env=env, cwd=base, capture_output=True, text=True)
    assert down.returncode == 0 and tag not in down.stdout


def _redis_ping(host) -> str:
    """What ``redis-cli ping`` gets from inside the host within 2 s ('' when nothing answers)."""
    port = str(host.relays["redis"].target.port)
    return host.run(["timeout", "2", "redis-cli", "-h", "127.0.0.1", "-p", port, "ping"]).stdout.strip()


def test_partition_cuts_a_host_off_redis_and_the_others_until_healed(hosts):
    a, b = hosts.hosts
    assert _redis_ping(a) == "PONG"
    a.partition()
    try:
        assert _redis_ping(a) == "" and not a.link_up()
        assert _redis_ping(b) == "PONG"  # the other host is untouched
    finally:
        a.heal()
    assert _redis_ping(a) == "PONG" and a.link_up()


def test_a_killed_host_loses_every_process_and_the_other_carries_on_until_it_is_revived(hosts, transactional_db):
    a, b = hosts.hosts
    a.kill()
    assert a.pids() == [] and not a.link_up() and _redis_ping(a) == ""
    assert all(s.proc.poll() is not None for s in a.cluster.services)
    run = submit(t.total([t.inc(i) for i in range(6)]), name="hosts-one-left")
    assert run.result(timeout=120) == sum(range(1, 7))
    assert {r.host for r in TaskRun.objects.filter(run_id=run.id)} == {b.hostname}
    hosts.revive(a)
    assert _redis_ping(a) == "PONG" and a.link_up()
    _run_across_hosts(hosts)


def test_outputs_are_fetched_from_the_host_that_made_them_and_cached_on_the_reader_s(hosts, transactional_db):
    """Outputs made on both hosts, read by one task: the inputs its host made are mapped there (``shm``),
    the others fetched from their host's data server (``remote``), never through Redis; the fetched
    copies live in the reader's /dev/shm until the run ends, when every host's files of it go."""
    from store import tiers

    n, mb = 8, 1
    run = submit(t.checksum_all([t.payload(i, mb, 0.6) for i in range(n)]), name="hosts-fetch")
    expected = hashlib.sha256(b"".join(t.payload.fn(i, mb).tobytes() for i in range(n))).hexdigest()
    assert run.result(timeout=120) == expected
    rows = {r.node_id: r for r in TaskRun.objects.filter(run_id=run.id)}
    sink = next(r for r in rows.values() if r.function.endswith("checksum_all"))
    made_on = {nid: r.host for nid, r in rows.items() if r is not sink}
    assert set(made_on.values()) == {h.hostname for h in hosts.hosts}  # made on both hosts
    for item in sink.inputs:
        if item.get("local"):
            continue
        assert item["tier"] == ("shm" if made_on[item["node"]] == sink.host else "remote"), item
    assert any(i.get("tier") == "remote" for i in sink.inputs)
    run_dir = f"{settings.SLAFLOW_SHM_DIR}/{tiers.deployment()}/{run.id}"
    for host in hosts.hosts:  # removed on both hosts once the run ended
        until(
            lambda host=host: host.run(["test", "-e", run_dir]).returncode == 1,
            timeout_s=10,
            what=f"the run's files gone on {host.hostname}",
        )


def test_consumers_of_a_big_output_run_on_the_host_that_made_it(hosts, transactional_db):
    """A 2 MB output read by six flexible consumers (WUKONG): they queue on its host's ready list and
    their executors go to that host's queue, so every one runs there, mapping the output from that
    host's shared memory (``shm``; never fetched from the other host) — while the other host is idle.
    Inputs on both hosts still meet on one (the fan-in test above reads the other host's remotely)."""
    big = t.payload(7, 2)
    consumers = [t.digest(i, big, seconds=0.2) for i in range(6)]
    expected = hashlib.sha256(t.payload.fn(7, 2).tobytes()).hexdigest()
    # WUKONG's executors; then the uniform planner's branches (its history: the WUKONG run), dispatched
    # to the host of their entries' biggest inputs.
    for planner in ("wukong", "uniform"):
        run = submit(t.gather(consumers), name="hosts-locality", planner=planner)
        assert run.result(timeout=120) == [expected] * 6
        rows = {r.node_id: r for r in TaskRun.objects.filter(run_id=run.id)}
        producer = next(r for r in rows.values() if r.function.endswith("payload"))
        readers = [r for r in rows.values() if r.function.endswith("digest")]
        assert len(readers) == 6
        assert {r.host for r in readers} == {producer.host}, (planner, [(r.node_id, r.host) for r in readers])
        for r in readers:
            (item,) = [i for i in r.inputs if i["node"] == producer.node_id]
            assert item.get("local") or item["tier"] == "shm", (planner, item)
