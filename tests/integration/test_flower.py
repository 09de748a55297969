"""Flower, as `localcluster --flower` starts it: basic auth from settings (never on its command line), sees
workers online (their heartbeats) and their task events."""

import base64
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from slaflow import submit
from tests import taskfns as t
from tests.waiting import until

pytestmark = [pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, auth: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, ConnectionError, OSError):
        return 0, b""  # nothing listening (yet)


def test_flower_requires_basic_auth_and_sees_workers_and_tasks(
    django_db_setup, django_db_blocker, transactional_db, redis_server, settings
):
    from localcluster.launcher import LocalCluster
    from tests.conftest import cluster_env

    auth = settings.SLAFLOW_FLOWER_BASIC_AUTH
    assert auth and ":" in auth
    # A queue of its own (640 MB) so the run below goes to this cluster's worker only.
    settings.SLAFLOW_RESOURCE_CONFIGS = (640,)
    settings.SLAFLOW_DEFAULT_MEMORY_MB = 640
    env = cluster_env(SLAFLOW_RESOURCE_CONFIGS="640", SLAFLOW_DEFAULT_MEMORY_MB="640")
    port = _free_port()
    with LocalCluster(
        memory_configs=(640,), max_pool=1, flower=True, flower_port=port, env=env, loglevel="info"
    ) as cluster:
        base = f"http://127.0.0.1:{port}"
        until(lambda: _get(base + "/")[0] in (200, 401), timeout_s=60, every_s=0.5, what="Flower to listen")
        assert _get(base + "/")[0] == 401
        assert _get(base + "/api/workers")[0] == 401
        assert _get(base + "/", "slaflow:wrong-password")[0] == 401
        assert _get(base + "/", auth)[0] == 200
        # ``ps`` shows every process's argv to every user: Flower's login is not in it, but in its
        # environment (readable by its own user only).
        (service,) = [svc for svc in cluster.services if svc.name == "flower"]
        pid = service.proc.pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"flower" in argv and not any(auth.encode() in arg for arg in argv), argv
        assert f"FLOWER_BASIC_AUTH={auth}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")

        worker = cluster.worker_name(640)
        workers = until(
            lambda: (lambda s, b: s == 200 and worker in json.loads(b) and json.loads(b))(
                *_get(base + "/api/workers?refresh=1", auth)
            ),
            timeout_s=60,
            every_s=0.5,
            what=f"Flower to see {worker}",
        )
        assert worker in workers
        # Online, as Flower's dashboard shows it: from the worker's heartbeat events.
        online = until(
            lambda: (lambda s, b: s == 200 and json.loads(b).get(worker) is True)(
                *_get(base + "/api/workers?status=1", auth)
            ),
            timeout_s=30,
            every_s=0.5,
            what=f"Flower to show {worker} online",
        )
        assert online

        run = submit(t.add(t.inc(1), t.inc(2)), name="flower-events")
        assert run.result(timeout=60) == 5

        def branch_tasks():
            status, body = _get(base + "/api/tasks?limit=100", auth)
            if status != 200:
                return None
            found = [
                v
                for v in json.loads(body).values()
                if v.get("name") == "workers.tasks.run_branch" and v.get("worker") == worker
            ]
            return found if any(v.get("state") == "SUCCESS" for v in found) else None

        seen = until(branch_tasks, timeout_s=30, every_s=0.5, what="task events of the run in Flower")
        assert all(str(run.id) in v.get("args", "") for v in seen)
