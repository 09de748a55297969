"""Commands as a user runs them: run_workflow --json, localcluster start/stop without orphans."""

import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from orchestrator.models import TaskRun
from tests.conftest import cluster_env
from tests.waiting import until

pytestmark = [pytest.mark.integration]
MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def test_run_workflow_json_reports_each_run(live):
    out = StringIO()
    call_command("run_workflow", "tree_reduction", "--json", "--iterations", "2", "--param", "n=16", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 2
    for rec in lines:
        for key in (
            "run_id",
            "workflow",
            "planner",
            "sla",
            "status",
            "result",
            "makespan_s",
            "predicted_makespan_s",
            "tasks",
            "cold_starts",
            "warm_starts",
            "gb_seconds",
            "error",
        ):
            assert key in rec
        assert rec["status"] == "succeeded" and rec["result"] == 120 and rec["tasks"] == 15
        assert rec["makespan_s"] > 0 and rec["cold_starts"] + rec["warm_starts"] >= 1
        assert TaskRun.objects.filter(run_id=rec["run_id"], exec_s__isnull=False).count() == 15


def test_run_workflow_rejects_bad_arguments(live):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown workflow 'nope'"):
        call_command("run_workflow", "nope")
    with pytest.raises(CommandError, match="no parameter 'size'"):
        call_command("run_workflow", "tree_reduction", "--param", "size=3")
    with pytest.raises(CommandError, match="unknown planner"):
        call_command("run_workflow", "tree_reduction", "--planner", "fastest")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_localcluster_command_stops_everything_on_ctrl_c(cluster, transactional_db):
    # A config no other worker serves, so this cluster's workers are its own.
    env = dict(os.environ, **cluster_env(SLAFLOW_RESOURCE_CONFIGS="896", SLAFLOW_DEFAULT_MEMORY_MB="896"))
    proc = subprocess.Popen(
        [sys.executable, MANAGE, "localcluster", "--max-pool", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        banner.append(line)
        if "Press Ctrl-C" in line or proc.poll() is not None:
            break
    text = "".join(banner)
    assert "local cluster is up" in text and "rc-896" in text, text
    kids = _descendants(proc.pid)
    assert len(kids) >= 2  # the worker and its pool process(es)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    until(lambda: not [pid for pid in kids if _alive(pid)], timeout_s=10, what="the cluster's processes to be gone")


def test_run_workflow_starts_its_own_cluster_when_no_worker_serves_a_queue(cluster, transactional_db):
    env = dict(os.environ, **cluster_env(SLAFLOW_RESOURCE_CONFIGS="640", SLAFLOW_DEFAULT_MEMORY_MB="640"))
    done = subprocess.run(
        [sys.executable, MANAGE, "run_workflow", "diamond", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "starting a local cluster" in done.stderr
    rec = json.loads(done.stdout.strip().splitlines()[-1])
    assert rec["status"] == "succeeded" and rec["result"] == 10
    assert TaskRun.objects.filter(run_id=rec["run_id"], memory_mb=640).count() == 4


def test_worker_log_lines_name_their_run_and_task(live):
    """A line logged inside a task, in the worker's log file, says which run and task it came from."""
    import uuid

    from slaflow import submit
    from tests import taskfns as t
    from tests.waiting import until

    marker = uuid.uuid4().hex
    run = submit(t.log_line(t.value(1), marker), name="log-context")
    assert run.result(timeout=60) == 1
    node = TaskRun.objects.get(run_id=run.id, function="tests.taskfns.log_line").node_id

    def line():
        for path in Path(live.log_dir).glob("worker-*.log"):
            for text in path.read_text(errors="replace").splitlines():
                if marker in text:
                    return text
        return None

    text = until(line, timeout_s=10, what="the task's log line in a worker log")
    assert f"[run={run.id} task={node}]" in text
