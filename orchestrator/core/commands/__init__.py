"""Executables as tasks: a node that runs a program, its input on stdin or in files, its stdout the output.

    from slaflow import command
    text = make_text(...)
    sorted_ = command(["sort", "-n"], stdin=text)                 # stdin: the upstream's value
    counted = command(["wc", "-l", "{lines}"], files={"lines": sorted_})   # a file per named input

JSON spec: ``{"id": "s", "command": ["sort", "-n"], "stdin": {"ref": "t"}}``
(``"files": {"lines": {"ref": "s"}}`` for file inputs).

This package is the core half of commands, pure: the ``command`` builder, the
rules an argv must pass, and the programs' policies. Running one — the private
directory, the sandbox, the capped pipes — is the runtime's
(``orchestrator.executables``), whose ``run`` is the function every command
node names (``FUNCTION``).

A command is safe with hostile argv; every rule is checked when the graph is
submitted (REST: 400 naming the node) and again when the task runs:

* ``argv`` is a list — never a shell string: no shell ever parses it. Its
  first item is exactly a program named in ``SLAFLOW_ALLOWED_EXECUTABLES``: a
  name, found on the trusted ``/usr/local/bin:/usr/bin:/bin`` (never the
  worker's PATH), or an exact listed absolute path; anything else with a
  ``/`` in it is refused.
* Every option is on the program's allow-list (``programs``: sort, uniq, wc,
  tr, cut, head, tail, grep, cat, sleep; more through
  ``SLAFLOW_COMMAND_POLICIES``), written exactly: options that run programs,
  write or read files (``sort --compress-program``, ``-o``, ``-T``,
  ``--files0-from``) are refused naming the option (``argv``).
* A program reads stdin and the node's files only: a file operand is a
  ``{name}`` placeholder of one of ``files``, whose names are plain (letters,
  digits, ``_.-``, no ``/`` or ``..``); no path operand is ever accepted.
* It runs in a fresh private directory with a minimal environment, as an
  unprivileged user, under bubblewrap where the machine allows
  (``orchestrator.executables.sandbox``), its stdout and stderr capped
  (``orchestrator.executables.runner``).

Inputs are written as bytes: bytes as they are, a string as UTF-8, a list as
one item per line, anything else as its JSON. The task's output is stdout
(bytes). A non-zero exit fails the task with the exit code and the last lines
of stderr. Time limits and memory limits apply as to any task: the program
runs in the task's cgroup, and is killed if the task is stopped.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from orchestrator.core.authoring import LazyNode, TaskFunction
from orchestrator.core.commands import argv as argv_mod, programs
from orchestrator.core.commands.argv import DisallowedExecutableError
from orchestrator.core.graph import Node

# The function every command node names: the runtime's runner (``orchestrator.executables.run``).
FUNCTION = "orchestrator.executables.run"


def _allowed() -> tuple[str, ...]:
    from django.conf import settings

    return tuple(settings.SLAFLOW_ALLOWED_EXECUTABLES)


def policies() -> dict[str, programs.Policy]:
    from django.conf import settings

    return _policies(tuple(settings.SLAFLOW_COMMAND_POLICIES))


@functools.lru_cache(maxsize=None)
def _policies(extra: tuple[str, ...]) -> dict[str, programs.Policy]:
    from django.utils.module_loading import import_string

    out = dict(programs.POLICIES)
    for path in extra:  # installed code named by the operator's settings, never by a submission
        table = import_string(path)
        if not isinstance(table, dict) or not all(isinstance(p, programs.Policy) for p in table.values()):
            raise TypeError(f"SLAFLOW_COMMAND_POLICIES entry {path!r} is not a dict of programs.Policy")
        out.update(table)
    return out


def check_argv(argv: Any, where: str, files: Any = None) -> list[str]:
    """The checked, normalized argv of a command whose file inputs are ``files`` (a dict: name → value);
    raises naming the refused program, option, operand or file name."""
    program = argv_mod.program_of(argv, _allowed(), where)
    files = {} if files is None else files
    if not isinstance(files, dict):
        raise DisallowedExecutableError(f"{where}: a command's files must map input names to values, got {files!r}")
    argv_mod.check_file_names(files, where)
    table = policies()
    policy = table.get(program) or table.get(os.path.basename(program))
    if policy is None:
        raise DisallowedExecutableError(
            f"{where}: executable {program!r} is allowed but has no declared policy of options and operands "
            f"(orchestrator/core/commands/programs.py or SLAFLOW_COMMAND_POLICIES)"
        )
    return argv_mod.checked(list(argv), policy, files, where)


def check_node(node: Node, where: str) -> None:
    """A graph node running ``FUNCTION``: its argv and file names, as its constants hold them."""
    argv = node.args[0] if node.args else node.kwargs_dict.get("argv")
    check_argv(argv, where, node.kwargs_dict.get("files", node.args[2] if len(node.args) > 2 else None))


def run(argv: list[str], stdin: Any = None, files: dict[str, Any] | None = None) -> bytes:
    """The signature of a command node's function. Its body is the runtime's (``FUNCTION``): a command
    runs on a worker, in the sandbox, never in the process that builds the graph."""
    raise RuntimeError(f"a command runs on a worker ({FUNCTION}), not where its graph is built")


_RUN = TaskFunction(run, path=FUNCTION)


def command(argv: list[str], stdin: Any = None, files: dict[str, Any] | None = None) -> LazyNode:
    """A task node running ``argv`` (see the module docstring); its output is the program's stdout.
    Its generated id is the program's name (``sort-0``)."""
    check_argv(argv, "command", dict(files or {}))
    kwargs: dict[str, Any] = {"stdin": stdin} if stdin is not None else {}
    if files:
        kwargs["files"] = dict(files)
    lazy = _RUN(list(argv), **kwargs)
    lazy.label = os.path.basename(argv[0])
    return lazy
