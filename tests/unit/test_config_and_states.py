import pytest
from django.core.management import call_command

from orchestrator.core import envconfig, router, sla, states
from orchestrator.core.resources import ResourceConfig


def test_database_url_parsing():
    assert envconfig.database_from_url(None)["ENGINE"].endswith("sqlite3")
    pg = envconfig.database_from_url("postgres://u:p%40ss@db.example:6543/slaflow?sslmode=require")
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], str(pg["PORT"])) == (
        "django.db.backends.postgresql",
        "slaflow",
        "u",
        "p@ss",
        "db.example",
        "6543",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert pg["CONN_HEALTH_CHECKS"] is True
    with pytest.raises(envconfig.ConfigError, match="mysql"):
        envconfig.database_from_url("mysql://x/y")
    with pytest.raises(envconfig.ConfigError, match="names no database"):
        envconfig.database_from_url("postgres://u@db.example:5432/")
    with pytest.raises(envconfig.ConfigError, match="names no SQLite file"):
        envconfig.database_from_url("sqlite://")


def test_sqlite_connections_get_the_pragmas_through_init_command(tmp_path, django_db_blocker):
    """The embedded default's pragmas come from Django's own init_command: every new connection has them."""
    from django.db.utils import ConnectionHandler

    config = envconfig.database_from_url(f"sqlite:///{tmp_path}/x.sqlite3")
    assert config["NAME"] == str(tmp_path / "x.sqlite3")
    handler = ConnectionHandler({"default": config})
    try:
        with django_db_blocker.unblock(), handler["default"].cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 30000
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 1  # NORMAL
    finally:
        handler.close_all()


def test_redis_target_dialects():
    emb = envconfig.redis_target(None, db=3)
    assert emb.embedded and emb.client_url.startswith("unix://") and emb.broker_url.startswith("redis+socket://")
    real = envconfig.redis_target("redis://127.0.0.1:6379/0", db=5)
    assert real.client_url == "redis://127.0.0.1:6379/5" and not real.embedded


def test_resource_configs_env():
    assert envconfig.resource_configs(None) == (512, 1024, 2048)
    assert envconfig.resource_configs("2048, 512") == (512, 2048)
    with pytest.raises(envconfig.ConfigError, match="'big'"):
        envconfig.resource_configs("512,big")
    assert ResourceConfig(1792).cpus == 1.0 and ResourceConfig(512).cpus == 0.29
    assert ResourceConfig(20000).cpus == 6
    assert router.queue_for(512) == "rc-512" and router.memory_of_queue("rc-512") == 512
    # A host's queue of a configuration (where work whose inputs are on that host goes).
    assert router.host_queue_for(512, "h1-x") == "rc-512@h1-x" and router.memory_of_queue("rc-512@h1-x") == 512
    assert router.route_for(512, "h1-x") == {"queue": "rc-512@h1-x"} and router.route_for(512) == {"queue": "rc-512"}


def test_sla_parsing():
    assert str(sla.parse("P90")) == "p90" and sla.parse("average").is_average
    for bad in ("p0", "p100", "fast", "90"):
        with pytest.raises(sla.SLAError):
            sla.parse(bad)


def test_transitions_table():
    states.check("running", "succeeded")
    with pytest.raises(states.TransitionError):
        states.check("succeeded", "running")
    assert states.sources_of("succeeded") == {"running"}


def test_a_task_moves_only_as_its_table_allows():
    assert states.move(states.TaskStatus.RUNNING, states.TaskStatus.SUCCEEDED) == "succeeded"
    assert states.allowed("pending", "skipped") and not states.allowed("running", "skipped")
    with pytest.raises(states.TransitionError):
        states.move(states.TaskStatus.RUNNING, states.TaskStatus.SKIPPED)  # a task that began is not skipped
    with pytest.raises(states.TransitionError):
        states.move(states.TaskStatus.SUCCEEDED, states.TaskStatus.RUNNING)


@pytest.mark.django_db
def test_migrations_are_complete():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_results_are_stored_without_compression_on_postgres():
    """Compressing a result costs time on the critical path (the sink's store)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a Postgres storage setting; this run uses " + connection.vendor)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'orchestrator_runresult'::regclass "
            "AND attname = 'data'"
        )
        assert cur.fetchone()[0] == "e"
