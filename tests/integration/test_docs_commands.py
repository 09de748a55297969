"""The documentation's commands, run: the blocks marked runnable against the test cluster, and the tutorial's
own workflow on a cluster started the way the tutorial says (``slaflow cluster``)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cluster_env
from tests.docsutil import BASE, marked
from tests.waiting import until

pytestmark = [pytest.mark.integration]

BIN = str(Path(sys.executable).parent)


def _env(**extra) -> dict:
    """A user's shell: the venv's commands first on PATH, the test settings (in the checkout's tests/) and
    the test database and Redis DB."""
    return {
        **os.environ,
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(BASE),
        "COLUMNS": "120",
        **cluster_env(),
        **extra,
    }


def _bash(script: str, *, cwd, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


RUNNABLE = marked("runnable")
PAGES = sorted({b.page for b in RUNNABLE})


def test_the_docs_have_runnable_blocks():
    assert {"docs/tutorial.md", "docs/howto/many-hosts.md", "docs/howto/monitor.md"} <= set(PAGES)
    assert all(b.lang == "sh" for b in RUNNABLE)


@pytest.mark.parametrize("page", PAGES)
def test_a_pages_runnable_blocks_run_in_order(live, page):
    """A page's blocks in the order a reader runs them (the tutorial's report reads the runs before it)."""
    outputs = []
    for block in [b for b in RUNNABLE if b.page == page]:
        out = _bash(block.body, cwd=BASE, env=_env())
        assert out.returncode == 0, f"{page}:\n{block.body}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        assert out.stdout.strip(), block.body
        outputs.append(out.stdout)
    if page == "docs/tutorial.md":
        run, plan, report = outputs
        assert run.count("succeeded") == 3 and "correct=True" in run
        assert "non-uniform" in plan and "*" in plan
        assert "uniform" in report and "p90" in report and "no succeeded planned runs" not in report


def test_the_tutorials_own_workflow_from_its_files_and_commands(
    django_db_setup, django_db_blocker, transactional_db, redis_server, settings, tmp_path
):
    from localcluster.launcher import served_queues

    for block in marked("file: myflows.py") + marked("file: run_myflows.py"):
        (tmp_path / block.marker.split(":", 1)[1].strip()).write_text(block.body + "\n")
    (cluster_step,), (submit_step,) = marked("tutorial: cluster"), marked("tutorial: submit")
    # A configuration of its own, so the session's cluster (which cannot import myflows) takes none of it.
    settings.SLAFLOW_RESOURCE_CONFIGS = (896,)
    settings.SLAFLOW_DEFAULT_MEMORY_MB = 896
    env = _env(SLAFLOW_RESOURCE_CONFIGS="896", SLAFLOW_DEFAULT_MEMORY_MB="896", SLAFLOW_MAX_POOL="2")
    # The tutorial's `.` is the directory holding myflows.py, where the reader runs both commands (the
    # workers run in the checkout); here that is tmp_path, and the checkout stays on the path for the
    # test settings.
    here = f"PYTHONPATH={tmp_path}:{BASE}"
    log = tmp_path / "cluster.log"
    with open(log, "wb") as sink:
        cluster = subprocess.Popen(
            ["bash", "-c", cluster_step.body.replace("PYTHONPATH=.", here)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        until(
            lambda: "rc-896" in served_queues() or cluster.poll() is not None,
            timeout_s=90,
            what="the tutorial's cluster serving rc-896",
        )
        assert cluster.poll() is None, log.read_text()[-3000:]
        out = _bash(submit_step.body.replace("PYTHONPATH=.", here), cwd=tmp_path, env=env)
    finally:
        os.killpg(cluster.pid, signal.SIGINT)  # Ctrl-C, as the tutorial's reader does (its process group)
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    results = [line for line in out.stdout.splitlines() if line.startswith("run ")]
    assert len(results) == 6 and all(line.endswith(": 140") for line in results), out.stdout
    assert "squares" in out.stdout.split(results[-1], 1)[1]  # the report names the workflow
    from orchestrator.models import WorkflowRun

    runs = WorkflowRun.objects.filter(workflow__name="squares", status="succeeded")
    assert runs.count() == 6 and runs.exclude(predicted_makespan_s=None).exists()
