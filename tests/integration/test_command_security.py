"""Issue 23, rows 1-4 and 16: what a REST user's hostile command gets, at submission (400 naming the node and
the option, operand or name; nothing stored) and on real workers (the program sees no secrets, runs as the
unprivileged user in its own PID namespace, cannot write outside its directory, has no network)."""

import os
import uuid

import pytest

from orchestrator.models import TaskRun
from slaflow import submit
from tests import taskfns as t
from tests.apiutil import client_for, stored_counts
from tests.command_policies import PROBE


@pytest.fixture
def api(db, redis_server):
    return client_for("cmd-attacker")


def _refused(api, nodes: list[dict]) -> str:
    before = stored_counts()
    resp = api.post("/api/runs/", {"dag": {"nodes": nodes}, "planner": "wukong", "sla": "p90"}, format="json")
    assert resp.status_code == 400, resp.content
    assert stored_counts() == before
    return resp.json()["dag"][0]


SHELL_ON_STDIN = {"id": "v", "function": "tests.taskfns.value", "args": ["id\ncat /etc/shadow\n"]}


@pytest.mark.parametrize(
    "argv, needle",
    [
        # row 1: GNU sort runs its --compress-program (here a shell reading the lines on stdin)
        (
            ["sort", "-S", "1k", "--compress-program=sh"],
            "node 's': sort option '--compress-program' is refused: it runs another program",
        ),
        (
            ["sort", "-S", "1k", "--compress=sh"],
            "node 's': sort option '--compress' is not allowed (options are written "
            "in full: it abbreviates --compress-program)",
        ),
        (
            ["sort", "-o", "/app/experiments/workflows/pwned.py"],
            "node 's': sort option '-o' is refused: it writes a file",
        ),
        # row 3: reading the worker's environment and files
        (
            ["grep", "-z", "SECRET", "/proc/self/environ"],
            "node 's': grep operand '/proc/self/environ' is not allowed: "
            "a program reads only stdin and the node's files",
        ),
        (["wc", "--files0-from", "/etc/passwd"], "node 's': wc option '--files0-from' is refused: it reads a file"),
        (["cat", "/etc/passwd"], "node 's': cat operand '/etc/passwd' is not allowed"),
        # row 4: a relative path to an allowed program's binary
        (["../../../../usr/bin/cat"], "node 's': executable '../../../../usr/bin/cat' is not allowed"),
    ],
)
def test_hostile_argv_is_refused_at_submission_naming_the_node_and_the_option(api, argv, needle):
    assert needle in _refused(api, [SHELL_ON_STDIN, {"id": "s", "command": argv, "stdin": {"ref": "v"}}])


@pytest.mark.parametrize(
    "name", ["/app/experiments/workflows/pwned.py", "../../experiments/workflows/pwned.py", "x/../../pwned.py", ".."]
)
def test_a_files_name_that_is_a_path_is_refused_at_submission(api, name):
    # row 2: the file name was joined to the temporary directory unchecked
    message = _refused(api, [{"id": "w", "command": ["cat", "{f}"], "files": {name: "print('pwned')"}}])
    assert f"node 'w': file input name {name!r} is not allowed" in message


def test_a_module_planted_in_the_library_is_neither_imported_nor_accepted_by_submissions_or_previews(api, planted):
    # row 2: a .py file that reached slaflow/workflows/ was imported by the web process validating a preview
    dag = {"nodes": [{"id": "a", "function": "slaflow.workflows.pwned_module.escalate"}]}
    assert "module 'slaflow.workflows.pwned_module' is not a registered workflow module" in _refused(api, dag["nodes"])
    resp = api.post("/api/plans/preview/", {"dag": dag}, format="json")
    assert resp.status_code == 400 and "it was not imported" in resp.json()["dag"][0]
    assert not planted.exists()


def test_library_workflows_needing_programs_that_are_not_allowed_are_listed_unavailable(api, settings):
    # row 16: with only `wc` allowed, listing the library raised DisallowedExecutableError (a 500)
    settings.SLAFLOW_ALLOWED_EXECUTABLES = ("wc",)
    resp = api.get("/api/workflows/", {"page_size": 100})
    assert resp.status_code == 200, resp.content
    entries = {e["name"]: e for e in resp.json()["results"]}
    words = entries["unix_words"]
    assert not words["available"] and words["task_count"] is None and words["structure_hash"] == ""
    assert words["unavailable_reason"].startswith(
        "unavailable here: command: executable 'tr' is not allowed (SLAFLOW_ALLOWED_EXECUTABLES: wc)"
    )
    assert entries["tree_reduction"]["available"] and entries["tree_reduction"]["task_count"] == 63
    run = api.post("/api/runs/", {"workflow": "unix_words"}, format="json")
    assert run.status_code == 400 and "workflow 'unix_words' is unavailable here" in run.json()["workflow"][0]


def _probe(*args: str):
    return t.parse_json(_command([PROBE, *args]))


def _command(argv):
    from slaflow import command

    return command(argv)


def test_a_program_on_a_worker_sees_no_secret_no_other_process_no_network_and_writes_only_its_directory(live):
    outside = f"/tmp/slaflow-escape-{uuid.uuid4().hex}"  # world-writable: only the sandbox keeps it out
    in_code = os.path.join(os.path.dirname(t.__file__), f"pwned_{uuid.uuid4().hex}.py")
    run = submit(
        t.gather(
            [_probe("--pid", str(os.getpid()), "--write", outside, "--connect", "6379"), _probe("--write", in_code)]
        ),
        name="sandbox-probe",
    )
    seen, code_write = run.result(timeout=90)
    # row 3: nothing of the worker's environment (it holds DATABASE_URL and REDIS_URL), in no visible process
    assert set(seen["env"]) <= {"PATH", "LANG", "HOME", "TMPDIR", "PWD"}, seen["env"]
    assert seen["env"]["PATH"] == "/usr/local/bin:/usr/bin:/bin" and seen["leaks"] == []
    # row 1: not root
    assert (seen["uid"], seen["gid"]) == (65534, 65534) and set(seen["groups"]) <= {65534}  # no supplementary
    # its own PID namespace: the test process (and the worker) are not there
    assert seen["pid_visible"] is False and len(seen["pids"]) <= 3
    # no network: the Redis every worker talks to is unreachable
    assert seen["connect"] != "connected"
    # its directory: fresh, private, its own
    assert seen["cwd"] == seen["env"]["HOME"] and (seen["cwd_mode"], seen["cwd_owner"]) == ("0o700", 65534)
    # row 2: nothing written outside its directory
    assert not os.path.exists(outside) and not os.path.exists(in_code)
    assert code_write["write"].startswith("OSError: Read-only file system"), code_write
    sandboxes = set(
        TaskRun.objects.filter(run_id=run.id, function="orchestrator.executables.run").values_list(
            "optimizations__sandbox", flat=True
        )
    )
    assert sandboxes == {"bwrap, as uid 65534"}


def test_a_workers_command_runs_its_program_through_bubblewrap_as_the_unprivileged_user(live):
    run = submit(t.gather([_command(["id", "-u"]), _command(["env"])]), name="sandbox-id")
    uid, env = run.result(timeout=60)
    assert uid == b"65534\n"
    assert sorted(line.split("=", 1)[0] for line in env.decode().splitlines()) == [
        "HOME",
        "LANG",
        "PATH",
        "PWD",
        "TMPDIR",
    ]
