"""The slaflow console script as a user runs it: verbs, help, errors, and live progress on a terminal."""

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from orchestrator.models import WorkflowRun
from slaflow.cli import VERBS
from tests.conftest import cluster_env

SLAFLOW = str(Path(sys.executable).with_name("slaflow"))
BASE = str(settings.BASE_DIR)


def _env(extra):
    """The test settings (they live in tests/, importable from the checkout) on the test database."""
    return {**os.environ, "PYTHONPATH": BASE, **cluster_env(), **(extra or {})}


def _run(args, env=None, timeout=120):
    return subprocess.run([SLAFLOW, *args], capture_output=True, text=True, timeout=timeout, cwd=BASE, env=_env(env))


def _run_in_terminal(args, env=None, timeout=180) -> tuple[int, str]:
    """Run under a pseudo-terminal (stdout and stderr a tty, as in a shell); everything it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [SLAFLOW, *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=BASE,
        env=_env({"COLUMNS": "160", **(env or {})}),
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


def test_help_lists_every_verb():
    assert Path(SLAFLOW).exists(), "the console script is installed with the package (pyproject [project.scripts])"
    out = _run(["--help"])
    assert out.returncode == 0
    for verb in ("cluster", "run", "plan", "experiments", "bench"):
        assert verb in VERBS
    for verb in VERBS:
        assert f"\n  {verb} " in out.stdout
    run_help = _run(["run", "--help"])
    assert run_help.returncode == 0 and run_help.stdout.startswith("usage: slaflow run ")
    assert "--iterations" in run_help.stdout and "--settings" not in run_help.stdout


def test_bad_verbs_and_arguments_are_named():
    out = _run(["frobnicate"])
    assert out.returncode == 2 and "unknown verb 'frobnicate'" in out.stderr
    out = _run(["run", "no_such_workflow"])
    assert out.returncode == 1 and "unknown workflow 'no_such_workflow'" in out.stderr


def test_bench_shows_a_live_bar_on_a_terminal_and_nothing_when_piped_or_json():
    args = ["bench", "planning", "--tasks", "60", "--repeat", "2", "--planner", "uniform"]
    code, shown = _run_in_terminal(args)
    assert code == 0, shown
    assert "ETA" in shown and "2/2" in shown and "uniform" in shown
    piped = _run(args)
    assert piped.returncode == 0 and "ETA" not in piped.stderr + piped.stdout
    assert "\x1b[" not in piped.stderr + piped.stdout
    code, shown = _run_in_terminal(args + ["--json"])
    assert code == 0 and "ETA" not in shown and '"planner": "uniform"' in shown


@pytest.mark.integration
def test_run_iterations_on_a_terminal_show_progress_and_every_run(live):
    before = WorkflowRun.objects.count()
    code, shown = _run_in_terminal(["run", "diamond", "--iterations", "2"])
    assert code == 0, shown
    assert "ETA" in shown and "2/2" in shown
    assert "#1 run" in shown and "#2 run" in shown and "correct=True" in shown
    assert WorkflowRun.objects.count() == before + 2
