"""Redis and Postgres restarted in the middle of a run, on private services (``experiments.bench.restarts``):
each scenario runs ``slaflow run`` in a child process with a local cluster of real workers against a
redis-server and a Postgres cluster of its own, restarts one of them while the run is running, and checks
how the run ended. Nothing is mocked; the machine's own Redis and Postgres are never touched."""

import pytest

from experiments.bench import restarts

pytestmark = pytest.mark.timeout(400)
# The service goes down 1 s after the run started running and stays down 1 s (the bench's defaults are 2 and 2):
# the chains' 1 s tasks still run for 3 s more, so it falls mid-run all the same.
TIMES = {"after_s": 1.0, "down_s": 1.0}


def test_redis_killed_and_restarted_from_its_append_only_file_the_run_completes():
    row = restarts.scenario("redis-aof", chains=2, length=4, **TIMES)
    assert (row["status"], row["result"], row["exit_code"]) == ("succeeded", [4, 4], 0), row


def test_redis_restarted_without_its_data_the_run_fails_with_a_clear_error_instead_of_hanging(monkeypatch):
    # The workers' watchdog looks every second at runs older than 2 s (not every 5 s at runs older than 10 s):
    # the same two looks in a row find the run's state gone, 10 s sooner.
    monkeypatch.setenv("SLAFLOW_WATCHDOG_EVERY_S", "1")
    monkeypatch.setenv("SLAFLOW_WATCHDOG_GRACE_S", "2")
    row = restarts.scenario("redis-lost", chains=2, length=4, **TIMES)
    assert row["status"] == "failed" and row["exit_code"] != 0, row
    assert "state in Redis is gone" in row["error"], row


def test_postgres_restarted_the_run_completes():
    row = restarts.scenario("postgres", chains=2, length=4, **TIMES)
    assert (row["status"], row["result"], row["exit_code"]) == ("succeeded", [4, 4], 0), row
