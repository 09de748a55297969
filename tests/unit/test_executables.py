"""Executables as tasks: the command form, its spec round trip, the allow-list, running a program."""
import pytest

from orchestrator import executables, spec as spec_mod
from orchestrator.authoring import build_graph
from orchestrator.executables import CommandFailed, DisallowedExecutableError, command
from orchestrator.functions import check_graph
from orchestrator.graph import GraphError
from tests import taskfns as t


def test_a_command_node_is_the_run_function_named_after_its_program_and_round_trips_as_a_spec():
    g = build_graph(command(["wc", "-l", "{lines}"], files={"lines": command(["sort"], stdin=t.value("b\na\n"))}))
    assert sorted(g) == ["sort-0", "value-0", "wc-0"]
    assert g["wc-0"].function == executables.FUNCTION and g["wc-0"].upstream == ("sort-0",)
    assert spec_mod.from_spec(spec_mod.to_spec(g)) == g
    short = {"nodes": [{"id": "v", "function": "tests.taskfns.value", "args": ["b\na\n"]},
                       {"id": "s", "command": ["sort"], "stdin": {"ref": "v"}},
                       {"id": "n", "command": ["wc", "-l", "{f}"], "files": {"f": {"ref": "s"}},
                        "options": {"timeout_s": 5}}]}
    got = spec_mod.from_spec(short)
    assert got["s"].function == executables.FUNCTION and got["s"].upstream == ("v",)
    assert got["n"].upstream == ("s",) and got["n"].options_dict == {"timeout_s": 5}
    assert spec_mod.from_spec(spec_mod.to_spec(got)) == got
    with pytest.raises(spec_mod.SpecError, match=r"a command node takes .*not args"):
        spec_mod.from_spec({"nodes": [{"id": "x", "command": ["sort"], "args": [1]}]})


@pytest.mark.parametrize("argv, message", [
    (["rm", "-rf", "/tmp/x"], r"executable 'rm' is not allowed \(SLAFLOW_ALLOWED_EXECUTABLES: sort, uniq, wc"),
    ("sort -n", r"a command must be a non-empty list of strings \(argv\), got 'sort -n'"),
    ([], r"a command must be a non-empty list of strings"),
    (["/opt/evil/sort"], r"'/opt/evil/sort' is not allowed \(SLAFLOW_ALLOWED_EXECUTABLES lists 'sort' on PATH"),
])
def test_a_command_outside_the_allow_list_or_not_an_argv_list_is_refused(argv, message):
    with pytest.raises(GraphError, match=message):
        command(argv)
    graph = {"n": build_graph(command(["sort"]))["sort-0"].__class__("n", executables.FUNCTION, args=(argv,))}
    with pytest.raises(GraphError, match=message):
        check_graph(graph)


def test_running_a_program_pipes_stdin_and_files_and_fails_with_its_exit_code_and_stderr():
    assert executables.run(["sort", "-n"], stdin=[3, 1, 2]) == b"1\n2\n3\n"
    assert executables.run(["wc", "-c", "{blob}"], files={"blob": b"12345"}).split()[0] == b"5"
    with pytest.raises(CommandFailed, match=r"'sort' exited with code 2: .*(unrecognized|unknown) option"):
        executables.run(["sort", "--no-such-flag"], stdin="x")
    assert issubclass(DisallowedExecutableError, GraphError)
