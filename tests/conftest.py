"""Fixtures: real Redis (embedded or REDIS_URL) and a real local cluster of Celery
workers against the test database. Nothing here is mocked or eager."""

from __future__ import annotations

import os
import sys
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from localcluster.embedded_redis import EmbeddedRedis


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return "sqlite:///" + str(s["NAME"])
    auth = quote(s["USER"] or "") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{s['NAME']}"


def pytest_collection_modifyitems(config, items):
    """The smoke test against real AWS (marker ``aws_smoke``) is opt-in: deselected, not skipped, unless
    SLAFLOW_AWS_SMOKE=1 (docs/howto/lambda.md); then it fails if the credentials or the role are missing."""
    if os.environ.get("SLAFLOW_AWS_SMOKE") == "1":
        return
    dropped = [item for item in items if item.get_closest_marker("aws_smoke")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("aws_smoke")]


@pytest.fixture(scope="session")
def redis_server():
    """The test Redis DB, flushed before and after the session."""
    embedded = None
    if settings.REDIS.embedded:
        embedded = EmbeddedRedis(settings.REDIS.socket_path)
        embedded.start()
    from store.redis_client import check, get_redis

    check()  # with REDIS_URL set, a missing Redis fails the tests (never skips)
    get_redis().flushdb()
    yield get_redis()
    get_redis().flushdb()
    if embedded is not None:
        embedded.stop()


def cluster_env(**extra) -> dict:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "SLAFLOW_TEST_REDIS_DB": os.environ.get("SLAFLOW_TEST_REDIS_DB", "13"),
        "SLAFLOW_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


_session: dict = {}  # the session's cluster, which the hosts fixture stops while the simulated hosts run


@pytest.fixture(scope="session")
def cluster(django_db_setup, django_db_blocker, redis_server):
    from localcluster.launcher import LocalCluster

    with django_db_blocker.unblock():
        env = cluster_env()
    c = LocalCluster(max_pool=3, env=env, loglevel="info")
    c.start(timeout_s=90)
    _session["cluster"] = c
    yield c
    c.stop()


@pytest.fixture
def live(cluster, transactional_db, redis_server):
    """A running cluster and a database whose commits the workers see."""
    if not cluster.services:  # stopped for the simulated hosts' tests
        cluster.start(timeout_s=90)
    yield cluster
    settle_runs()
    cluster.check_alive()


def settle_runs(timeout_s: float = 15.0) -> None:
    """Before the database is flushed: the test's unfinished runs cancelled, and every run that was dispatched
    finalized by its last branch, so no worker writes while the tables are truncated (a worker's
    transaction and the flush's locks deadlocked, failing the next test's flush)."""
    from orchestrator.core.states import RunStatus
    from orchestrator.models import WorkflowRun
    from orchestrator.services.runs import cancel_run
    from tests.waiting import until

    for run_id in WorkflowRun.objects.filter(
        status__in=[RunStatus.PENDING, RunStatus.PLANNING, RunStatus.RUNNING]
    ).values_list("id", flat=True):
        cancel_run(run_id)

    def finalized() -> bool:
        # Dispatched runs only: the dispatch writes ``dispatch_s`` into the timings as the run goes running;
        # a row a test made by hand (tests/webui/factories.py) has a start time but no branch to finalize it.
        started = WorkflowRun.objects.exclude(started_at=None).values_list("timings", flat=True)
        return all("finalize_s" in timings for timings in started if "dispatch_s" in (timings or {}))

    # Hygiene, not a check of the test: a run a test left unfinalizable (its branches killed on purpose, its
    # Redis keys flushed) must not fail the test, so after the bound the flush goes ahead.
    try:
        until(finalized, timeout_s=timeout_s, every_s=0.1, what="every run of the test finalized before the flush")
    except AssertionError:
        pass


@pytest.fixture(scope="module")
def hosts(django_db_setup, django_db_blocker, redis_server):
    """Two simulated hosts (localcluster.hosts: own network, hostname and /dev/shm each), each with a worker per
    resource configuration against the test database and Redis. The session's cluster in the root
    namespace is stopped meanwhile, so runs land on the hosts only (``live`` starts it again)."""
    from localcluster.hosts import Hosts

    if "cluster" in _session:
        _session["cluster"].stop()
    with django_db_blocker.unblock():
        env = cluster_env()
    with Hosts(2, max_pool=2, env=env, loglevel="info") as harness:
        yield harness


@pytest.fixture
def run_id(redis_server):
    """A run id no run of the session has, for tests that drive the data plane directly; its data (keys and
    output files) is deleted after the test."""
    import time

    from store import dataplane

    rid = 10_000_000 + time.time_ns() % 1_000_000
    yield rid
    dataplane.delete_run_data(rid)


@pytest.fixture
def run_keys(redis_server):
    """Names of a run's leftover Redis keys (to check clean-up)."""
    from store import keys

    def leftover(run_id: int) -> list[str]:
        return sorted(k.decode() for k in redis_server.scan_iter(match=keys.run_pattern(run_id)))

    return leftover


@pytest.fixture
def counts(redis_server):
    """Execution counters that test task functions bump (tag → count)."""

    def get(tag: str) -> int:
        return int(redis_server.get(f"sf:test:count:{tag}") or 0)

    return get


PLANTED = """
from pathlib import Path
Path({marker!r}).write_text("module code ran")

def escalate():
    return "owned"
"""


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A module file that appeared at run time inside the library's package
    (``slaflow.workflows.pwned_module``, as a file-write exploit left it), and the marker file its code
    writes if it is ever imported (issue 23, row 2)."""
    from slaflow import workflows

    marker = tmp_path / "imported"
    extra = tmp_path / "pkgdir"
    extra.mkdir()
    (extra / "pwned_module.py").write_text(PLANTED.format(marker=str(marker)))
    monkeypatch.setattr(workflows, "__path__", list(workflows.__path__) + [str(extra)])
    yield marker
    sys.modules.pop("slaflow.workflows.pwned_module", None)


@pytest.fixture
def dead_redis(settings):
    """Settings whose Redis is a port nothing listens on (the test Redis again afterwards)."""
    import socket

    from orchestrator.core import envconfig
    from store import redis_client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.REDIS = envconfig.redis_target(f"redis://127.0.0.1:{port}/0")
    redis_client.reset()
    yield
    redis_client.reset()  # the next user connects to the test Redis again


@pytest.fixture
def uncapped_executors(settings):
    """A run submitted here gets ``SLAFLOW_FLEX_EXECUTORS`` executors, not fewer for the host's cores
    (``store.readiness.executor_cap``), and its planned branches' bodies take no core slots
    (``store.cores``): for tests that fill every pool process, whose sleeping tasks stand for several
    hosts' work, or that check the cap's arithmetic on the setting alone (tests/integration/test_pools.py)."""
    settings.SLAFLOW_EXECUTORS_WITHIN_CORES = False
