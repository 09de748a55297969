"""Executables as tasks on real workers: programs pipe data, fail clearly, stop at time limits."""

import subprocess

import pytest

from orchestrator.models import TaskRun, WorkflowRun
from orchestrator.services.runs import SubmissionError
from slaflow import command, submit, submit_spec
from tests import taskfns as t
from tests.waiting import until


def test_commands_pipe_data_between_tasks_on_stdin_and_in_files(live):
    words = t.value("pear apple\nfig apple\n")
    ordered = command(["sort"], stdin=command(["tr", " ", "\\n"], stdin=words))
    run = submit(
        t.gather([command(["uniq", "-c"], stdin=ordered), command(["wc", "-l", "{f}"], files={"f": ordered})]),
        name="unix-pipe",
    )
    counted, lines = run.result(timeout=60)
    assert [line.split() for line in counted.decode().splitlines()] == [["2", "apple"], ["1", "fig"], ["1", "pear"]]
    assert lines.split()[0] == b"4"
    assert (
        TaskRun.objects.filter(
            run_id=run.id, node_id__in=["tr-0", "sort-0", "uniq-0", "wc-0"], status="succeeded"
        ).count()
        == 4
    )


def test_a_program_exiting_non_zero_fails_its_task_with_the_code_and_its_stderr(live):
    run = submit(command(["sort", "-k", "0"], stdin=t.value("x")), name="unix-fails")  # field 0: sort refuses it
    with pytest.raises(Exception, match=r"'sort' exited with code 2"):
        run.result(timeout=60)
    rec = TaskRun.objects.get(run_id=run.id, node_id="sort-0")
    assert rec.status == "failed" and "exited with code 2" in rec.error and "invalid" in rec.error


def test_a_submission_naming_a_program_off_the_allow_list_is_refused_and_nothing_is_stored(live):
    before = WorkflowRun.objects.count()
    with pytest.raises(SubmissionError, match=r"executable 'rm' is not allowed \(SLAFLOW_ALLOWED_EXECUTABLES: sort"):
        submit_spec({"nodes": [{"id": "x", "command": ["rm", "-rf", "/tmp/nothing"]}]}, name="evil")
    assert WorkflowRun.objects.count() == before


def _sleeping(marker: str) -> bool:
    return marker in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_a_program_over_its_task_s_time_limit_is_stopped_with_its_task(live):
    marker = "sleep 47.25"
    run = submit(command(["sleep", "47.25"]), name="unix-hangs", timeout_s=1.0)
    with pytest.raises(Exception, match="time limit"):
        run.result(timeout=60)
    until(lambda: not _sleeping(marker), timeout_s=15, what="the program to be gone")


def test_a_command_spec_over_rest_runs_and_its_stdout_is_the_result(live):
    from tests.apiutil import client_for, wait_for_status

    api = client_for("cmd-user")
    dag = {
        "name": "rest-sort",
        "nodes": [
            {"id": "v", "function": "tests.taskfns.value", "args": ["3\n1\n2\n"]},
            {"id": "s", "command": ["sort", "-n"], "stdin": {"ref": "v"}},
            {"id": "n", "command": ["wc", "-l", "{f}"], "files": {"f": {"ref": "s"}}},
        ],
    }
    resp = api.post("/api/runs/", {"dag": dag, "planner": "wukong", "sla": "p90"}, format="json")
    assert resp.status_code == 201, resp.content
    run_id = resp.json()["id"]
    assert wait_for_status(api, run_id)["status"] == "succeeded"
    result = api.get(f"/api/runs/{run_id}/result/").json()
    assert result["type"] == "bytes"
    refused = api.post("/api/runs/", {"dag": {"nodes": [{"id": "x", "command": ["curl", "http://x"]}]}}, format="json")
    assert refused.status_code == 400 and "executable 'curl' is not allowed" in str(refused.json()["dag"])
