"""Executables as tasks: a node that runs a program, its input on stdin or in files, its stdout the output.

    from slaflow import command
    text = make_text(...)
    sorted_ = command(["sort", "-n"], stdin=text)                 # stdin: the upstream's value
    counted = command(["wc", "-l", "{lines}"], files={"lines": sorted_})   # a file per named input

JSON spec: ``{"id": "s", "command": ["sort", "-n"], "stdin": {"ref": "t"}}``
(``"files": {"lines": {"ref": "s"}}`` for file inputs).

``argv`` is a list — never a shell string: no shell ever parses it. Its first
item must be an executable named in ``SLAFLOW_ALLOWED_EXECUTABLES`` (by name,
found on ``PATH``, or by absolute path); a submission naming any other is
refused, naming the allow-list. A ``{name}`` in an argument is replaced by the
path of the file holding input ``name``. Inputs are written as bytes: bytes as
they are, a string as UTF-8, a list as one item per line, anything else as its
JSON. The task's output is stdout (bytes). A non-zero exit fails the task with
the exit code and the last lines of stderr. Time limits and memory limits
apply as to any task: the program runs in the task's process group (its
cgroup), and is killed if the task is stopped.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any

from orchestrator.graph import GraphError

FUNCTION = "orchestrator.executables.run"
STDERR_LINES = 10


class CommandFailed(RuntimeError):
    """The program exited with a non-zero code."""


class DisallowedExecutableError(GraphError):
    pass


def _allowed() -> tuple[str, ...]:
    from django.conf import settings

    return tuple(settings.SLAFLOW_ALLOWED_EXECUTABLES)


def check_argv(argv: Any, where: str) -> None:
    """A list of strings whose program is on the allow-list; raises naming the problem."""
    if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
        raise GraphError(f"{where}: a command must be a non-empty list of strings (argv), got {argv!r}")
    program, allowed = argv[0], _allowed()
    if program not in allowed and os.path.basename(program) not in allowed:
        raise DisallowedExecutableError(
            f"{where}: executable {program!r} is not allowed (SLAFLOW_ALLOWED_EXECUTABLES: "
            f"{', '.join(allowed) or 'none'})")
    if os.path.isabs(program) and os.path.basename(program) in allowed and program not in allowed:
        raise DisallowedExecutableError(
            f"{where}: executable {program!r} is not allowed (SLAFLOW_ALLOWED_EXECUTABLES lists "
            f"{os.path.basename(program)!r} on PATH, not that path)")


def as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return b"".join(as_bytes(v).rstrip(b"\n") + b"\n" for v in value)
    return json.dumps(value).encode("utf-8")


def run(argv: list[str], stdin: Any = None, files: dict[str, Any] | None = None) -> bytes:
    """The task function behind ``command``: run the program, return its stdout."""
    check_argv(argv, "command")
    program = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0])
    if program is None:
        raise FileNotFoundError(f"executable {argv[0]!r} is allowed but not found on PATH")
    with tempfile.TemporaryDirectory(prefix="slaflow-cmd-") as tmp:
        paths = {}
        for name, value in (files or {}).items():
            paths[name] = os.path.join(tmp, name)
            with open(paths[name], "wb") as fh:
                fh.write(as_bytes(value))
        args = [program] + [_fill(a, paths) for a in argv[1:]]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=tmp)
        try:
            out, err = proc.communicate(as_bytes(stdin))
        except BaseException:  # the task was stopped (time limit, cancellation): so is the program
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        tail = "\n".join(err.decode("utf-8", errors="replace").rstrip().splitlines()[-STDERR_LINES:])
        raise CommandFailed(f"{argv[0]!r} exited with code {proc.returncode}" + (f": {tail}" if tail else ""))
    return out


def _fill(arg: str, paths: dict[str, str]) -> str:
    for name, path in paths.items():
        arg = arg.replace("{" + name + "}", path)
    return arg


def command(argv: list[str], stdin: Any = None, files: dict[str, Any] | None = None):
    """A task node running ``argv`` (see the module docstring); its output is the program's stdout.
    Its generated id is the program's name (``sort-0``)."""
    from orchestrator.authoring import TaskFunction

    check_argv(argv, "command")
    kwargs: dict[str, Any] = {"stdin": stdin} if stdin is not None else {}
    if files:
        kwargs["files"] = dict(files)
    lazy = TaskFunction(run)(list(argv), **kwargs)
    lazy.label = os.path.basename(argv[0])
    return lazy
