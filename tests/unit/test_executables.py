"""Executables as tasks: the command form, its spec round trip, the allow-lists, running a program."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from django.conf import settings as django_settings

from orchestrator import executables
from orchestrator.core import envconfig, spec as spec_mod
from orchestrator.core.authoring import build_graph
from orchestrator.core.graph import GraphError, Node, Ref
from orchestrator.executables import CommandFailed, DisallowedExecutableError, command, programs, sandbox
from tests import taskfns as t
from tests.command_policies import PROBE
from workers.functions import check_graph


def test_a_command_node_is_the_run_function_named_after_its_program_and_round_trips_as_a_spec():
    g = build_graph(command(["wc", "-l", "{lines}"], files={"lines": command(["sort"], stdin=t.value("b\na\n"))}))
    assert sorted(g) == ["sort-0", "value-0", "wc-0"]
    assert g["wc-0"].function == executables.FUNCTION and g["wc-0"].upstream == ("sort-0",)
    assert spec_mod.from_spec(spec_mod.to_spec(g)) == g
    short = {
        "nodes": [
            {"id": "v", "function": "tests.taskfns.value", "args": ["b\na\n"]},
            {"id": "s", "command": ["sort"], "stdin": {"ref": "v"}},
            {"id": "n", "command": ["wc", "-l", "{f}"], "files": {"f": {"ref": "s"}}, "options": {"timeout_s": 5}},
        ]
    }
    got = spec_mod.from_spec(short)
    assert got["s"].function == executables.FUNCTION and got["s"].upstream == ("v",)
    assert got["n"].upstream == ("s",) and got["n"].options_dict == {"timeout_s": 5}
    assert spec_mod.from_spec(spec_mod.to_spec(got)) == got
    with pytest.raises(spec_mod.SpecError, match=r"a command node takes .*not args"):
        spec_mod.from_spec({"nodes": [{"id": "x", "command": ["sort"], "args": [1]}]})


def _node(argv, files=None) -> dict:
    kwargs = {"files": files} if files is not None else {}
    return {"n": Node("n", executables.FUNCTION, args=(argv,), kwargs=kwargs)}


ALLOWED = r"\(SLAFLOW_ALLOWED_EXECUTABLES: sort, uniq, wc"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["rm", "-rf", "/tmp/x"], r"executable 'rm' is not allowed " + ALLOWED),
        ("sort -n", r"a command must be a non-empty list of strings \(argv\), got 'sort -n'"),
        ([], r"a command must be a non-empty list of strings"),
        # row 4: a path reaching an allowed program by its basename
        (
            ["../../../../usr/bin/cat"],
            r"executable '../../../../usr/bin/cat' is not allowed "
            + ALLOWED
            + r".*\): a program is named exactly as listed, a path only when the list holds that exact absolute path",
        ),
        (["/opt/evil/sort"], r"executable '/opt/evil/sort' is not allowed " + ALLOWED),
        (["/usr/bin/sort"], r"executable '/usr/bin/sort' is not allowed"),
        (["./sort"], r"executable './sort' is not allowed"),
    ],
)
def test_a_program_not_exactly_on_the_allow_list_or_not_an_argv_list_is_refused(argv, message):
    with pytest.raises(GraphError, match=message):
        command(argv)
    with pytest.raises(GraphError, match=message):
        check_graph(_node(argv))


@pytest.mark.parametrize(
    "argv, message",
    [
        # row 1: GNU sort runs --compress-program on its temporary data
        (
            ["sort", "-S", "1k", "--compress-program=sh"],
            r"node 'n': sort option '--compress-program' is refused: it runs another program",
        ),
        (["sort", "--compress-program", "sh"], r"sort option '--compress-program' is refused: it runs another program"),
        # GNU accepts abbreviations: only exact spellings pass
        (
            ["sort", "--compress=sh"],
            r"sort option '--compress' is not allowed \(options are written in full: "
            r"it abbreviates --compress-program\)",
        ),
        (
            ["sort", "--rev"],
            r"sort option '--rev' is not allowed \(options are written in full: it abbreviates "
            r"--reverse\); sort accepts -C -M",
        ),
        (["sort", "-o", "out"], r"sort option '-o' is refused: it writes a file"),
        (["sort", "-nro", "out"], r"sort option '-o' is refused: it writes a file"),  # inside a bundle
        (["sort", "{a}", "-o", "out"], r"sort option '-o' is refused"),  # GNU permutes: options after operands count
        (["sort", "--output=out"], r"sort option '--output' is refused: it writes a file"),
        (["sort", "-T", "/tmp"], r"sort option '-T' is refused: it writes a file \(temporary files"),
        (["sort", "--files0-from=/etc/passwd"], r"sort option '--files0-from' is refused: it reads a file"),
        (["sort", "--random-source", "/dev/zero"], r"sort option '--random-source' is refused: it reads a file"),
        (["wc", "--files0-from", "/etc/passwd"], r"wc option '--files0-from' is refused: it reads a file"),
        (["uniq", "{a}", "{b}"], r"uniq takes at most 1 operand\(s\), got 2: uniq's second operand is an OUTPUT file"),
        (["tail", "-f", "{a}"], r"tail option '-f' is refused: it waits for more input forever"),
        (["grep", "-r", "x"], r"grep option '-r' is refused: it reads directories"),
        (["sort", "--version"], r"sort option '--version' is not allowed"),
        (["sort", "-k", "1;sh"], r"sort option '-k' takes a sort key \(like 2 or 2,3n\), got '1;sh'"),
        (["sort", "--key"], r"sort option '--key' needs a value"),
        (["sort", "--reverse=yes"], r"sort option '--reverse' takes no value"),
        (["tr", "a", "b", "c"], r"tr takes at most 2 operand\(s\), got 3: tr takes at most two SETs"),
        (["tr"], r"tr needs at least 1 operand\(s\), got 0"),
        (["grep"], r"grep needs at least 1 operand\(s\), got 0"),
    ],
)
def test_options_off_a_program_s_allow_list_are_refused_naming_the_option_and_the_program(argv, message):
    with pytest.raises(DisallowedExecutableError, match=message):
        check_graph(_node(argv, {"a": "x", "b": "y"}))


@pytest.mark.parametrize(
    "argv, message",
    [
        # row 3: path operands (the worker's environment, any file)
        (
            ["grep", "-z", "SECRET", "/proc/self/environ"],
            r"grep operand '/proc/self/environ' is not allowed: a program "
            r"reads only stdin and the node's files, named by their "
            r"placeholders \(files: \{a\}\)",
        ),
        (["cat", "/etc/passwd"], r"cat operand '/etc/passwd' is not allowed"),
        (["cat", "{a}/../../etc/passwd"], r"cat operand '\{a\}/../../etc/passwd' is not allowed"),
        (["cat", "{nope}"], r"cat operand '\{nope\}' is not allowed: .*\(files: \{a\}\)"),
        (["sort", "--", "-o"], r"sort operand '-o' is not allowed"),
        (["grep", "-f", "/etc/shadow", "{a}"], r"grep option '-f' '/etc/shadow' is not allowed"),
    ],
)
def test_a_file_operand_is_only_a_placeholder_of_the_node_s_files(argv, message):
    with pytest.raises(DisallowedExecutableError, match=message):
        check_graph(_node(argv, {"a": "x"}))


@pytest.mark.parametrize(
    "name", ["/etc/cron.d/x", "../x", "a/../../x", "a/b", "..", ".hidden", "-n", "a..b", "", "x" * 65, "a b", "é"]
)
def test_file_input_names_are_plain_names_never_paths(name):
    message = re.escape(f"node 'n': file input name {name!r} is not allowed: names are 1-64 characters")
    with pytest.raises(DisallowedExecutableError, match=message):
        check_graph(_node(["cat", "{x}"], {name: "data"}))
    with pytest.raises(DisallowedExecutableError, match=r"file input name"):
        executables.run(["cat"], files={name: "data"})  # checked again when the task runs


def test_argv_and_file_names_computed_at_run_time_are_refused_at_submission():
    """The function form could take argv or the files' names from an upstream's output: unchecked then."""
    upstream = {"v": Node("v", "tests.taskfns.value", args=("x",))}
    late_files = Node("n", executables.FUNCTION, args=(["cat", "{a}"],), kwargs={"files": Ref("v")}, upstream=("v",))
    with pytest.raises(DisallowedExecutableError, match=r"node 'n': a command's files must map input names to values"):
        check_graph({**upstream, "n": late_files})
    late_argv = Node("n", executables.FUNCTION, args=(Ref("v"),), upstream=("v",))
    with pytest.raises(GraphError, match=r"node 'n': a command must be a non-empty list of strings \(argv\)"):
        check_graph({**upstream, "n": late_argv})


@pytest.mark.parametrize(
    "argv, files, normalized",
    [
        (
            ["sort", "-nr", "-k2", "--key", "3", "-t,", "{a}"],
            {"a": ""},
            ["sort", "-n", "-r", "-k", "2", "--key=3", "-t", ",", "a"],
        ),
        (
            ["sort", "--field-separator=:", "--check=quiet", "--check", "-"],
            {},
            ["sort", "--field-separator=:", "--check=quiet", "--check", "-"],
        ),
        (["tr", "-s", " ", "\\n"], {}, ["tr", "-s", " ", "\\n"]),
        (["tr", "-d", "--", "-x"], {}, ["tr", "-d", "--", "-x"]),
        (["grep", "-e", "-v", "{a}"], {"a": ""}, ["grep", "-e", "-v", "a"]),
        (["grep", "-c", "-f", "{p}", "{a}"], {"a": "", "p": ""}, ["grep", "-c", "-f", "p", "a"]),
        (["grep", "{a}"], {"a": ""}, ["grep", "{a}"]),  # grep's first operand is a PATTERN, never a file
        (["head", "-n", "-5"], {}, ["head", "-n", "-5"]),
        (["tail", "-n", "+3", "{a}"], {"a": ""}, ["tail", "-n", "+3", "a"]),
        (["uniq", "-c", "{a}"], {"a": ""}, ["uniq", "-c", "a"]),
        (["wc", "-l", "{lines}"], {"lines": ""}, ["wc", "-l", "lines"]),
    ],
)
def test_allowed_options_are_read_as_gnu_getopt_reads_them_and_normalized(argv, files, normalized):
    assert executables.check_argv(argv, "node 'n'", files) == normalized


@pytest.mark.parametrize("program", sorted(programs.POLICIES))
def test_every_listed_option_is_an_exact_option_of_the_installed_program(program):
    """GNU reads an unknown long option as an abbreviation of the one it prefixes: a listed spelling the
    installed program does not have could reach another option. Each listed one is in its --help."""
    policy = programs.POLICIES[program]
    text = subprocess.run(
        [program, "--help"], capture_output=True, text=True, check=True, env={"LANG": "C", "PATH": "/usr/bin:/bin"}
    ).stdout
    missing = [f"--{name}" for name in policy.long if not re.search(rf"--{re.escape(name)}(?![\w-])", text)]
    missing += [f"-{c}" for c in policy.short if not re.search(rf"(?<![\w-])-{re.escape(c)}(?![\w-])", text)]
    assert missing == []


def test_running_a_program_pipes_stdin_and_files_and_fails_with_its_exit_code_and_stderr():
    assert executables.run(["sort", "-n"], stdin=[3, 1, 2]) == b"1\n2\n3\n"
    assert executables.run(["wc", "-c", "{blob}"], files={"blob": b"12345"}) == b"5 blob\n"
    assert executables.run(["grep", "-c", "-f", "{p}", "{t}"], files={"p": "b\n", "t": "a\nb\nab\n"}) == b"2\n"
    with pytest.raises(CommandFailed, match=r"'sort' exited with code 2: .*(unrecognized|unknown|invalid)"):
        executables.run(["sort", "-k", "0"], stdin="x")
    with pytest.raises(DisallowedExecutableError, match=r"sort option '--compress-program' is refused"):
        executables.run(["sort", "--compress-program=sh"], stdin="x")  # the task checks again before it runs
    assert issubclass(DisallowedExecutableError, GraphError)


def test_stdout_over_its_cap_stops_the_program_and_fails_the_task_and_stderr_keeps_a_short_tail(settings):
    settings.SLAFLOW_COMMAND_MAX_STDOUT_BYTES = 1000
    assert executables.run(["cat"], stdin=b"x" * 1000) == b"x" * 1000
    with pytest.raises(
        CommandFailed,
        match=r"'cat' wrote more than 1000 bytes to stdout "
        r"\(SLAFLOW_COMMAND_MAX_STDOUT_BYTES\) and was stopped",
    ):
        executables.run(["cat"], stdin=b"x" * (8 << 20))
    with pytest.raises(CommandFailed, match=r"exited with code 3: (line \d+\n){9}line 99999$"):
        executables.run([PROBE, "--stderr-lines", "100000"])  # 1.3 MB of stderr: only its last lines are kept


def test_a_program_sees_only_a_minimal_environment_as_the_unprivileged_user(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "worker-secret")
    env = dict(line.split("=", 1) for line in executables.run(["env"]).decode().splitlines())
    assert set(env) <= {"PATH", "LANG", "HOME", "TMPDIR", "PWD"} and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["LANG"] == "C.UTF-8" and env["HOME"] == env["TMPDIR"] and env["HOME"].startswith("/tmp/slaflow-cmd-")
    assert executables.run(["id", "-u"]) == b"65534\n" and executables.run(["id", "-G"]) == b"65534\n"


def test_without_a_sandbox_a_program_still_runs_as_the_unprivileged_user_and_says_it_is_unsandboxed(settings):
    settings.SLAFLOW_COMMAND_SANDBOX = "none"
    box = sandbox.current()
    assert box.bwrap is None and box.describe() == "NONE (SLAFLOW_COMMAND_SANDBOX=none), as uid 65534"
    assert executables.run(["id", "-u"]) == b"65534\n"
    env = executables.run(["env"]).decode()
    assert "DATABASE_URL" not in env and "REDIS_URL" not in env and "DJANGO_SETTINGS_MODULE" not in env


def test_auto_uses_bubblewrap_here_and_falls_back_loudly_where_there_is_none(settings, monkeypatch, caplog):
    assert sandbox.current().describe() == "bwrap, as uid 65534"  # bubblewrap is installed on the test machines
    monkeypatch.setattr(sandbox, "TRUSTED_PATH", "/nonexistent")  # a machine without bubblewrap
    settings.SLAFLOW_COMMAND_USER = (65534, 65533)  # another cache entry: probed again
    box = sandbox.current()
    assert box.bwrap is None and not box.refusal and "bwrap not found on /nonexistent" in box.describe()
    sandbox.announce()
    assert "!!! command tasks run WITHOUT a sandbox" in caplog.text
    settings.MODE = "production"  # production without a sandbox refuses to run programs unless acknowledged
    with pytest.raises(
        CommandFailed,
        match=r"'id' was not run: no sandbox for command tasks in production mode "
        r"\(bwrap not found .*set SLAFLOW_COMMAND_ALLOW_UNSANDBOXED=1",
    ):
        executables.run(["id"])
    settings.SLAFLOW_COMMAND_ALLOW_UNSANDBOXED = True
    assert executables.run(["id", "-g"]) == b"65533\n"
    settings.SLAFLOW_COMMAND_ALLOW_UNSANDBOXED, settings.SLAFLOW_COMMAND_SANDBOX = False, "bwrap"
    with pytest.raises(CommandFailed, match=r"was not run: SLAFLOW_COMMAND_SANDBOX=bwrap but bwrap not found"):
        executables.run(["id"])


def test_a_listed_program_under_tmp_runs_in_the_sandbox_whose_tmp_is_fresh(settings):
    """The sandbox mounts a fresh /tmp: a program the operator listed by a path under /tmp (a checkout there,
    as CI's) is bound into it read-only at its path; the files beside it stay out of sight."""
    folder = tempfile.mkdtemp(prefix="slaflow-listed-")
    try:
        os.chmod(folder, 0o755)
        program = os.path.join(folder, "sandbox_probe")
        shutil.copy(PROBE, program)
        os.chmod(program, 0o755)
        with open(os.path.join(folder, "beside"), "w") as f:
            f.write("not for the program")
        settings.SLAFLOW_ALLOWED_EXECUTABLES = (*settings.SLAFLOW_ALLOWED_EXECUTABLES, program)
        seen = json.loads(executables.run([program, "--write", os.path.join(folder, "beside")]))
        assert seen["uid"] == 65534 and seen["leaks"] == []
        # the file beside it is out of sight, and nothing on the way to the program is writable
        assert seen["write"].startswith("OSError: Read-only file system"), seen["write"]
        assert open(os.path.join(folder, "beside")).read() == "not for the program"
        assert sandbox.wrap("/usr/bin/bwrap", "/tmp/w", ["/usr/bin/wc"], {}).count("--ro-bind") == 1  # / only
    finally:
        shutil.rmtree(folder, ignore_errors=True)


FLAKY_BWRAP = """#!/bin/sh
# bubblewrap that fails while {d}/fail exists, and once more for each {d}/fail-once (which it removes)
if [ -e {d}/fail ]; then echo "bwrap: creating new namespace failed: resource busy" >&2; exit 1; fi
if [ -e {d}/fail-once ]; then /bin/rm -f {d}/fail-once; echo "bwrap: creating new namespace failed" >&2; exit 1; fi
exec {real} "$@"
"""


def test_a_bubblewrap_probe_that_fails_on_a_loaded_host_is_tried_again_never_believed_for_good(
    settings, monkeypatch, caplog
):
    """An installed bubblewrap whose probe fails once (namespace creation stalls on a loaded host) is probed
    again before the worker concludes anything; one that keeps failing makes auto fall back — loudly — only
    until the next probe, RETRY_AFTER_S later, instead of for the process's lifetime."""
    real = shutil.which("bwrap", path=sandbox.TRUSTED_PATH)
    folder = tempfile.mkdtemp(prefix="slaflow-flaky-bwrap-")
    try:
        os.chmod(folder, 0o777)  # the probe runs as uid 65534: it removes fail-once itself
        with open(os.path.join(folder, "bwrap"), "w") as f:
            f.write(FLAKY_BWRAP.format(d=folder, real=real))
        os.chmod(os.path.join(folder, "bwrap"), 0o755)
        monkeypatch.setattr(sandbox, "TRUSTED_PATH", folder)
        monkeypatch.setattr(sandbox, "PROBE_PAUSE_S", 0.0)
        open(os.path.join(folder, "fail-once"), "w").close()
        assert sandbox.current().describe() == "bwrap, as uid 65534"  # the second attempt worked
        assert not os.path.exists(os.path.join(folder, "fail-once")) and "probe 1/3 failed" in caplog.text
        settings.SLAFLOW_COMMAND_USER = (65534, 65533)  # another cache entry: probed again
        open(os.path.join(folder, "fail"), "w").close()
        box = sandbox.current()
        assert box.bwrap is None and "resource busy" in box.describe() and "probe 3/3 failed" in caplog.text
        assert sandbox.current() is box  # believed for RETRY_AFTER_S
        monkeypatch.setattr(sandbox, "RETRY_AFTER_S", 0.0)
        sandbox.forget()
        assert sandbox.current().bwrap is None  # still failing: still no sandbox, probed again each time now
        os.remove(os.path.join(folder, "fail"))
        assert sandbox.current().describe() == "bwrap, as uid 65534"  # it works again: used, and kept
        monkeypatch.setattr(sandbox, "RETRY_AFTER_S", 60.0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SHIELD_CHECK = """
import json, sys
import django
django.setup()
from orchestrator import executables
from orchestrator.executables import sandbox
from tests.command_policies import PROBE
shielded = sandbox.shield_worker() if sys.argv[1] == "shield" else False
print(json.dumps({"shielded": shielded, "leaks": json.loads(executables.run([PROBE]))["leaks"]}))
"""


@pytest.mark.parametrize("shield", [False, True])
def test_a_worker_neither_root_nor_sandboxed_hides_its_environment_from_its_programs(shield):
    """A worker running as an ordinary user (the image's) without a sandbox: its programs run as that same
    user, who may read the worker's /proc/<pid>/environ, unless the worker made itself non-dumpable."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SLAFLOW_COMMAND_SANDBOX": "none",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:////tmp/x.sqlite3"),
        "REDIS_URL": "redis://secret",
        "PYTHONPATH": str(django_settings.BASE_DIR),
    }
    worker = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            SHIELD_CHECK,
            "shield" if shield else "plain",
        ],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 0, worker.stderr
    seen = json.loads(worker.stdout.splitlines()[-1])
    assert seen["shielded"] is shield
    if shield:
        assert seen["leaks"] == []
    else:  # what the shield is for: the same user reads the worker's secrets
        assert any(leak.endswith(":REDIS_URL") for leak in seen["leaks"]), seen


def test_command_settings_are_parsed_and_production_refuses_running_unsandboxed():
    assert envconfig.command_sandbox(None, mode="production", allow_unsandboxed=False) == "auto"
    with pytest.raises(envconfig.ConfigError, match=r"SLAFLOW_MODE=production refuses SLAFLOW_COMMAND_SANDBOX=none"):
        envconfig.command_sandbox("none", mode="production", allow_unsandboxed=False)
    assert envconfig.command_sandbox("none", mode="production", allow_unsandboxed=True) == "none"
    assert envconfig.command_sandbox("none", mode="local", allow_unsandboxed=False) == "none"
    with pytest.raises(envconfig.ConfigError, match=r"SLAFLOW_COMMAND_SANDBOX='docker' is not one of auto, bwrap"):
        envconfig.command_sandbox("docker", mode="local", allow_unsandboxed=False)
    assert envconfig.command_user(None) == (65534, 65534) and envconfig.command_user("1000") == (1000, 1000)
    with pytest.raises(envconfig.ConfigError, match=r"programs never run as root"):
        envconfig.command_user("0:0")
    assert envconfig.executables("wc, /opt/tools/x", ()) == ("wc", "/opt/tools/x")
    for bad in ("../../usr/bin/cat", "bin/x", "/opt/../usr/bin/x"):
        with pytest.raises(envconfig.ConfigError, match=r"is neither a program name nor a normalized absolute path"):
            envconfig.executables(bad, ())


@pytest.fixture(autouse=True)
def _fresh_probe():
    yield
    sandbox.forget()  # settings changed in a test do not leak into the next one's sandbox
