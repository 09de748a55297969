"""Running command tasks: the function every command node names, on a worker.

A command node (``orchestrator.core.commands``: the ``command`` builder, the
argv rules and the programs' policies, all pure) names ``run`` here. ``run``
checks the argv again, finds the program on the trusted path and runs it in a
fresh private directory, as an unprivileged user, under bubblewrap where the
machine allows (``sandbox``), its stdout and stderr capped (``runner``).

The core's names are re-exported so that the runtime's callers (the worker's
function checks, the sandbox's announcement) have one module to import.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from orchestrator.core.commands import FUNCTION, check_argv, check_node, command, policies, programs
from orchestrator.core.commands.argv import TRUSTED_PATH, DisallowedExecutableError
from orchestrator.executables.runner import CommandFailed, as_bytes, execute

# The names other modules import from here (``slaflow`` re-exports ``command`` and ``CommandFailed``).
__all__ = [
    "FUNCTION",
    "CommandFailed",
    "DisallowedExecutableError",
    "as_bytes",
    "check_argv",
    "check_node",
    "command",
    "run",
    "policies",
    "programs",
]


def run(argv: list[str], stdin: Any = None, files: dict[str, Any] | None = None) -> bytes:
    """The task function behind ``command``: check again, run the program (``runner``), return its stdout."""
    from django.conf import settings

    files = dict(files or {})
    checked = check_argv(argv, "command", files)
    program = checked[0] if os.path.isabs(checked[0]) else shutil.which(checked[0], path=TRUSTED_PATH)
    if program is None:
        raise FileNotFoundError(f"executable {argv[0]!r} is allowed but not found on {TRUSTED_PATH}")
    return execute(program, checked, stdin, files, settings.SLAFLOW_COMMAND_MAX_STDOUT_BYTES)
