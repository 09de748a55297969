"""Checking a command's argv against its program's policy, the way GNU getopt will read it.

``checked(argv, files, where)`` returns the argv the program is run with, or
raises ``DisallowedExecutableError`` naming the program, the option or operand
and why. It reads argv as GNU ``getopt_long`` does, so that what is checked is
what the program will see:

* options may come anywhere (GNU permutes) until ``--``; ``-`` alone is an operand;
* short options bundle (``-nr``); one taking a value takes the rest of its
  bundle (``-k2``, ``-t,``) or else the next argument (``-k 2``);
* long options are ``--name``, ``--name=value`` or ``--name value``; only
  exact spellings (GNU would also take abbreviations);
* operands are classified by position (``programs.Policy.operands``).

The result is normalized: every option on its own (``-n``, ``-k`` ``2``,
``--key=2``), then ``--`` if an operand starts with ``-``, then the operands;
a file operand ``{name}`` becomes ``name``, a file in the private directory
the program runs in (``FILE_NAME``: no ``/``, no ``..``, never starting with
``-``). Nothing else in argv is ever substituted or opened.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

from orchestrator.core.commands import programs
from orchestrator.core.graph import GraphError

FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Programs are found here only, never on the worker's PATH.
TRUSTED_PATH = "/usr/local/bin:/usr/bin:/bin"


class DisallowedExecutableError(GraphError):
    """A command the policy refuses: its program, an option, an operand or a file name."""


def check_file_names(names: Iterable[Any], where: str) -> None:
    for name in names:
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name) or ".." in name:
            raise DisallowedExecutableError(
                f"{where}: file input name {name!r} is not allowed: names are 1-64 characters of letters, digits, "
                f"'_', '.' and '-', starting with a letter or digit, without '..' (never a path)"
            )


def program_of(argv: Any, allowed: tuple[str, ...], where: str) -> str:
    """argv[0] if it is exactly an allowed program (a name without '/', or a listed absolute path)."""
    if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
        raise GraphError(f"{where}: a command must be a non-empty list of strings (argv), got {argv!r}")
    if any("\x00" in a for a in argv):
        raise DisallowedExecutableError(f"{where}: a command's arguments cannot hold NUL characters")
    program = argv[0]
    if program in allowed:
        return program
    listed = f"SLAFLOW_ALLOWED_EXECUTABLES: {', '.join(allowed) or 'none'}"
    if "/" in program:
        raise DisallowedExecutableError(
            f"{where}: executable {program!r} is not allowed ({listed}): a program is named exactly as listed, "
            f"a path only when the list holds that exact absolute path"
        )
    raise DisallowedExecutableError(f"{where}: executable {program!r} is not allowed ({listed})")


def checked(argv: list[str], policy: programs.Policy, files: Iterable[str], where: str) -> list[str]:
    """The normalized argv (see the module docstring); raises naming what is refused."""
    name = os.path.basename(argv[0])
    files = set(files)
    opts, operands, pattern_given = _options(argv[1:], policy, files, name, where)
    kinds = _operand_kinds(policy, len(operands), pattern_given, name, where)
    filled = [_operand(op, kind, files, name, where) for op, kind in zip(operands, kinds)]
    sep = ["--"] if any(op.startswith("-") and op != "-" for op in filled) else []
    return [argv[0]] + opts + sep + filled


def _options(
    args: list[str], policy: programs.Policy, files: set[str], name: str, where: str
) -> tuple[list[str], list[str], bool]:
    opts: list[str] = []
    operands: list[str] = []
    pattern_given = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands.extend(args[i:])
            break
        if arg == "-" or not arg.startswith("-"):
            operands.append(arg)
            continue
        if arg.startswith("--"):
            long, eq, value = arg[2:].partition("=")
            opt = _known(policy.long, f"--{long}", policy, name, where)
            if opt.value is None:
                if eq:
                    raise DisallowedExecutableError(f"{where}: {name} option '--{long}' takes no value")
                opts.append(f"--{long}")
                continue
            if not eq and not opt.optional:
                if i >= len(args):
                    raise DisallowedExecutableError(f"{where}: {name} option '--{long}' needs a value")
                value, i = args[i], i + 1
            if eq or not opt.optional:
                opts.append(f"--{long}={_value(value, opt, files, f'--{long}', name, where)}")
            else:
                opts.append(f"--{long}")
            pattern_given |= opt.pattern
            continue
        j = 1
        while j < len(arg):  # a bundle of short options
            flag = f"-{arg[j]}"
            opt = _known(policy.short, flag, policy, name, where, key=arg[j])
            j += 1
            if opt.value is None:
                opts.append(flag)
                continue
            if j < len(arg):
                value = arg[j:]
            elif i < len(args):
                value, i = args[i], i + 1
            else:
                raise DisallowedExecutableError(f"{where}: {name} option {flag!r} needs a value")
            opts.extend([flag, _value(value, opt, files, flag, name, where)])
            pattern_given |= opt.pattern
            break
    return opts, operands, pattern_given


def _known(
    table: dict[str, programs.Opt], spelled: str, policy: programs.Policy, name: str, where: str, key: str | None = None
) -> programs.Opt:
    opt = table.get(key if key is not None else spelled[2:])
    if opt is not None:
        return opt
    why = policy.refused.get(spelled)
    if why:
        raise DisallowedExecutableError(f"{where}: {name} option {spelled!r} is refused: {why}")
    hint = ""
    if spelled.startswith("--"):
        full = sorted(o for o in [f"--{k}" for k in table] + list(policy.refused) if o.startswith(spelled))
        if full:
            hint = f" (options are written in full: it abbreviates {', '.join(full)})"
    raise DisallowedExecutableError(
        f"{where}: {name} option {spelled!r} is not allowed{hint}; {name} accepts {_accepted(policy)}"
    )


def _accepted(policy: programs.Policy) -> str:
    listed = [f"-{k}" for k in sorted(policy.short)] + [f"--{k}" for k in sorted(policy.long)]
    return " ".join(listed) if listed else "no options"


def _value(value: str, opt: programs.Opt, files: set[str], spelled: str, name: str, where: str) -> str:
    if opt.value == "file":
        return _file(value, files, f"{name} option {spelled!r}", where)
    if opt.value == "text":
        return value
    if opt.value == "choice":
        if value in opt.choices:
            return value
        raise DisallowedExecutableError(
            f"{where}: {name} option {spelled!r} takes one of {', '.join(opt.choices)}, got {value!r}"
        )
    assert opt.value is not None, "only an option taking a value is given one"
    if programs.VALUE_KINDS[opt.value].fullmatch(value):
        return value
    raise DisallowedExecutableError(f"{where}: {name} option {spelled!r} takes {_KIND_NAMES[opt.value]}, got {value!r}")


_KIND_NAMES = {
    "int": "a whole number",
    "count": "a count (like 10, -5, +3 or 1K)",
    "size": "a size (like 1M or 10%)",
    "char": "one character",
    "keydef": "a sort key (like 2 or 2,3n)",
    "list": "a list (like 1,3-5)",
    "duration": "a duration (like 1.5 or 2s)",
}


def _operand_kinds(policy: programs.Policy, count: int, pattern_given: bool, name: str, where: str) -> list[str]:
    lead = [k for k in policy.operands if not (k == "pattern" and pattern_given)]
    if policy.max_operands is not None and count > policy.max_operands:
        why = f": {policy.too_many}" if policy.too_many else ""
        raise DisallowedExecutableError(
            f"{where}: {name} takes at most {policy.max_operands} operand(s), got {count}{why}"
        )
    needed = max(policy.min_operands, 1 if "pattern" in lead else 0)
    if count < needed:
        raise DisallowedExecutableError(f"{where}: {name} needs at least {needed} operand(s), got {count}")
    if count > len(lead) and policy.rest is None:
        raise DisallowedExecutableError(f"{where}: {name} takes at most {len(lead)} operand(s), got {count}")
    return (lead + [policy.rest or ""] * count)[:count]


def _operand(op: str, kind: str, files: set[str], name: str, where: str) -> str:
    if kind == "file":
        return op if op == "-" else _file(op, files, f"{name} operand", where)
    if kind in ("text", "pattern"):
        return op
    if programs.VALUE_KINDS[kind].fullmatch(op):
        return op
    raise DisallowedExecutableError(f"{where}: {name} operand {op!r} is not {_KIND_NAMES[kind]}")


def _file(value: str, files: set[str], what: str, where: str) -> str:
    match = PLACEHOLDER.fullmatch(value)
    if match and match.group(1) in files:
        return match.group(1)
    declared = ", ".join("{" + f + "}" for f in sorted(files)) or "none"
    raise DisallowedExecutableError(
        f"{where}: {what} {value!r} is not allowed: a program reads only stdin and the node's files, named by "
        f"their placeholders (files: {declared})"
    )
