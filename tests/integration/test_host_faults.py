"""Hosts lost, cut off and joining mid-run, on the simulated hosts (localcluster.hosts: real namespaces, real
workers, the real Redis and Postgres): a killed host's branches are taken over and the outputs that
lived only there recomputed from their inputs; a partitioned host that comes back is fenced off by its
lease token; a host that joins while a run executes gets part of its work."""

import hashlib

import pytest

from localcluster.hosts import Hosts, outputs_on, running_on
from orchestrator.models import TaskRun
from slaflow import submit
from store import fencing
from tests import taskfns as t
from tests.waiting import until

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def faults(django_db_setup, django_db_blocker, redis_server):
    """Two simulated hosts of their own (the faults below break them), on the 512 MB configuration."""
    from tests.conftest import _session, cluster_env

    if "cluster" in _session:
        _session["cluster"].stop()
    with django_db_blocker.unblock():
        # Executors up to the processes (each simulated host has one of the two cores): every process busy.
        env = cluster_env(
            SLAFLOW_DEFAULT_MEMORY_MB="512", SLAFLOW_FLEX_EXECUTORS="4", SLAFLOW_EXECUTORS_WITHIN_CORES="0"
        )
    with Hosts(2, memory_configs=(512,), max_pool=2, env=env, loglevel="info") as harness:
        yield harness


@pytest.fixture
def on_512(settings):
    settings.SLAFLOW_DEFAULT_MEMORY_MB = 512


def _expected(n: int, mb: int) -> str:
    return hashlib.sha256(b"".join(t.payload.fn(i, mb).tobytes() for i in range(n))).hexdigest()


def test_a_killed_host_s_work_is_taken_over_and_its_lost_outputs_recomputed(faults, transactional_db, on_512, counts):
    """Six quick tasks and a slow one into a checksum; once the quick ones are done, a host holding some of
    their outputs (the one running nothing, when there is one) is killed: every process SIGKILLed, its
    link down. Its branches are taken over by the other host, and the outputs that lived only in its shared
    memory are recomputed from their inputs when the sink needs them; the sink runs once, the result is
    right."""
    n, mb, tag = 6, 1, f"killed-sink-{id(faults)}"
    run = submit(
        t.checksum_all([t.payload(i, mb, 1.0) for i in range(n)] + [t.payload(n, mb, 12.0)], tag=tag),
        name="host-killed",
    )
    names = {h.hostname: h for h in faults.hosts}

    def victim():
        made = outputs_on(run.id)
        if len(made) < n:
            return None
        holders, running = sorted(set(made.values())), set(running_on(run.id).values())
        return names[([h for h in holders if h not in running] or holders)[0]]

    host = until(victim, timeout_s=90, every_s=0.05, what="the quick tasks' outputs stored")
    lost = {node for node, h in outputs_on(run.id).items() if h == host.hostname}
    host.kill()
    try:
        assert run.result(timeout=240) == _expected(n + 1, mb)
        assert counts(tag) == 1  # the sink ran once
        seen = fencing.counts(run.id)
        assert seen["recomputed"] >= len(lost) >= 1, (seen, lost)
        rows = {r.node_id: r for r in TaskRun.objects.filter(run_id=run.id)}
        sink = next(r for r in rows.values() if r.function.endswith("checksum_all"))
        assert sink.status == "succeeded" and sink.host != host.hostname
    finally:
        faults.revive(host)


def test_a_partitioned_host_that_comes_back_cannot_write_over_its_successor(faults, transactional_db, on_512, counts):
    """A host cut off (link, Redis and Postgres) while it runs a task: the other host takes the branch over
    and finishes the run; when the first comes back and its task ends, every write it tries is refused by
    its stale lease token — its downstream tasks do not run again, its records do not replace the others'."""
    tags = {k: f"partition-{k}-{id(faults)}" for k in ("slow", "mid", "sink")}
    run = submit(
        t.inc(t.inc(t.slow_inc(1, 8.0, tag=tags["slow"]), tag=tags["mid"]), tag=tags["sink"]), name="host-partitioned"
    )
    hostnames = {h.hostname: h for h in faults.hosts}

    def slow_on():
        return next((hostnames.get(h) for node, h in running_on(run.id).items() if node.startswith("slow_inc")), None)

    host = until(slow_on, timeout_s=90, every_s=0.05, what="the slow task running on a host")
    until(lambda: counts(tags["slow"]) == 1, timeout_s=30, what="the slow task's function started")
    host.partition()
    try:
        assert run.result(timeout=120) == 4  # finished by the other host
        assert counts(tags["slow"]) == 2  # the slow task ran on both hosts (the cut-off one is still in it)
    finally:
        host.heal()
    # Back on the network, the cut-off branch's task ends and it tries to carry on: refused (without fencing,
    # it would run the downstream tasks again).
    until(
        lambda: fencing.counts(run.id)["fenced"] or counts(tags["mid"]) > 1,
        timeout_s=90,
        every_s=0.2,
        what="the stale branch carrying on",
    )
    assert counts(tags["mid"]) == 1 and counts(tags["sink"]) == 1
    assert fencing.counts(run.id)["fenced"] >= 1
    other = next(h for h in faults.hosts if h is not host)
    rows = TaskRun.objects.filter(run_id=run.id)
    assert rows.count() == 3 and {r.host for r in rows} == {other.hostname}
    assert all(r.status == "succeeded" for r in rows)


def test_a_host_that_joins_mid_run_gets_work(faults, transactional_db, on_512, settings, uncapped_executors):
    """A fan-out with as many executors as the two hosts have processes (every one busy); a third host joins
    while it runs: its pool is seen, executors are launched for it, and it runs part of the fan-out."""
    settings.SLAFLOW_FLEX_EXECUTORS = 4  # two hosts x 2 processes: no executor message waits for a newcomer
    n, mb = 24, 1
    run = submit(t.checksum_all([t.payload(i, mb, 3.0) for i in range(n)]), name="host-joins")
    until(lambda: len(running_on(run.id)) == 4, timeout_s=60, what="the two hosts' four processes busy")
    joined = faults.join()
    assert run.result(timeout=240) == _expected(n, mb)
    hosts = {r.host for r in TaskRun.objects.filter(run_id=run.id)}
    assert joined.hostname in hosts, hosts
