"""The Lua prelude: Redis key names, task states and script constants, generated from Python.

A Lua script runs inside Redis and cannot import ``store.keys``. Rather than spell a key suffix
(``p .. 'deps'``), a task state (``'running'``) or an outcome code (``out = 3``) a second time, a
script uses names this module defines for it, generated from the one Python definition:

* ``K.<builder>(p, …)`` — every per-run key builder of ``store.keys`` as a Lua function of the run's
  prefix ``p`` (``keys.run_prefix``) and the builder's other arguments, e.g. ``K.deps(p)``,
  ``K.ready_on(p, mb, host)``. Each is derived by calling the Python builder with stand-in values and
  cutting the result at them, so it cannot drift from ``store.keys``;
* ``TASK.<STATE>`` / ``RUN.<STATE>`` — the state names of ``orchestrator.core.states``, and
  ``TASK_MOVES[from][to]`` — true for the moves its task table allows;
* a script's own constants (``constants``: e.g. ``store.readiness``'s outcome codes), and its named
  arguments (``argv``: ``local node, token = ARGV[1], ARGV[2]``, with ``pack`` building the matching
  Python list by name) instead of ``ARGV[7]`` read by position.

``with_prelude`` prefixes a script with the definitions it uses (only those: a script that names none
gets none, and the hot ones stay short); ``store.redis_client.script`` applies it to every script it
registers. ``tests/unit/test_lua_prelude.py`` fails when a script in ``store`` spells a key suffix, a
state or an outcome code again.
"""

from __future__ import annotations

import functools
import inspect
import re
from enum import Enum
from typing import Any, Callable

from orchestrator.core.states import TASK_TRANSITIONS, RunStatus, TaskStatus
from store import keys

_RUN = 918273645  # stand-in run id: the builders are called with it, and the run's prefix cut off
_STAND_IN_INT = 7_350_000  # stand-ins for integer arguments: _STAND_IN_INT + the argument's position


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _builder(name: str, fn: Callable[..., Any]) -> tuple[str, str] | None:
    """The Lua function of a per-run key builder (None for a builder of another kind of name), and
    its fixed suffix — the text that follows the run's prefix (up to the first argument)."""
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].name != "run_id":
        return None
    stand_ins = {}
    for i, param in enumerate(params[1:]):
        is_int = param.annotation in ("int", int)
        stand_ins[param.name] = str(_STAND_IN_INT + i) if is_int else f"\x00{i}\x00"
    try:
        text = fn(_RUN, *[int(v) if v.isdigit() else v for v in stand_ins.values()])
    except Exception:  # noqa: BLE001 — a builder that needs more than a run (Django settings): not a key
        return None
    prefix = keys.run_prefix(_RUN)
    if not isinstance(text, str) or not text.startswith(prefix):
        return None
    rest = text[len(prefix) :]
    by_value = {v: k for k, v in stand_ins.items()}
    parts = [x for x in re.split("(" + "|".join(map(re.escape, by_value)) + ")", rest) if x] if by_value else [rest]
    lua = ["p"] + [by_value.get(part) or _quote(part) for part in parts]
    args = ", ".join(["p", *stand_ins])
    return f"function K.{name}({args}) return {' .. '.join(lua)} end", parts[0]


@functools.cache
def key_builders() -> dict[str, tuple[str, str]]:
    """Builder name → (its Lua function, its fixed suffix), for every per-run key of ``store.keys``."""
    found = {}
    for name, fn in inspect.getmembers(keys, inspect.isfunction):
        if fn.__module__ == keys.__name__ and name not in ("run_prefix", "run_pattern"):
            got = _builder(name, fn)
            if got is not None:
                found[name] = got
    return found


def suffixes() -> set[str]:
    """The fixed suffixes of the run's keys (``deps``, ``ready:``, …): no script spells one."""
    return {suffix for _, suffix in key_builders().values()}


def _table(name: str, choices: type[Enum]) -> str:
    return f"local {name} = {{" + ", ".join(f"{m.name}={_quote(m.value)}" for m in choices) + "}"


def _moves() -> str:
    rows = ", ".join(
        f"[{_quote(src)}]={{" + ", ".join(f"[{_quote(t)}]=true" for t in sorted(targets)) + "}"
        for src, targets in TASK_TRANSITIONS.items()
    )
    return f"local TASK_MOVES = {{{rows}}}"


def constants(**values: Any) -> str:
    """Lua ``local`` definitions of a script's constants (numbers and strings), from Python's."""
    out = []
    for name, value in values.items():
        out.append(
            f"local {name} = {value!r}" if isinstance(value, (int, float)) else f"local {name} = {_quote(str(value))}"
        )
    return "\n".join(out) + "\n"


def argv(names: tuple[str, ...], table: str = "ARGV") -> str:
    """``local a, b, … = ARGV[1], ARGV[2], …``: a script's arguments by name, ``ARGV_REST`` the index of the
    first one after them (where a variable-length tail starts). ``pack`` builds the Python side. With
    ``table="KEYS"``: its keys by name (``KEYS_REST`` after them)."""
    reads = ", ".join(f"{table}[{i}]" for i in range(1, len(names) + 1))
    return f"local {', '.join(names)} = {reads}\nlocal {table}_REST = {len(names) + 1}\n"


def pack(names: tuple[str, ...], **values: Any) -> list:
    """The arguments ``argv(names)`` reads, in its order; every name must be given, and nothing else."""
    if set(values) != set(names):
        raise TypeError(f"script arguments {sorted(set(names) ^ set(values))} missing or unknown")
    return [values[n] for n in names]


def prelude(body: str) -> str:
    """The definitions ``body`` uses: the key builders it calls, the state tables it names."""
    used = [fn for name, (fn, _) in key_builders().items() if f"K.{name}(" in body]
    out = ["local K = {}", *used] if used else []
    if re.search(r"\bTASK\.", body):
        out.append(_table("TASK", TaskStatus))
    if re.search(r"\bRUN\.", body):
        out.append(_table("RUN", RunStatus))
    if "TASK_MOVES" in body:
        out.append(_moves())
    return "\n".join(out) + "\n" if out else ""


def with_prelude(body: str) -> str:
    """``body`` with its key builders and state names expanded in place (``expand``), prefixed with the
    prelude of whatever is left (unchanged when it needs none)."""
    body = expand(body)
    return prelude(body) + body


_CALL = re.compile(r"\bK\.(\w+)\(([^()]*)\)")


def expand(body: str) -> str:
    """``K.deps(p)`` → ``(p .. 'deps')``, ``TASK.RUNNING`` → ``'running'``: the same text the prelude's
    definitions would compute, written into the script when it is registered. Redis runs a script's
    top level on every call, so a prelude of functions and tables costs each call (16 µs per call of the
    readiness scripts, measured); expanded, the generated names cost nothing at run time. A call whose
    arguments hold parentheses is left to the prelude's function."""
    builders = key_builders()

    def call(m: re.Match) -> str:
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if name not in builders:
            return m.group(0)
        head, _, expr = builders[name][0].partition(" return ")
        params = [x.strip() for x in head[head.index("(") + 1 : head.rindex(")")].split(",")]
        if len(params) != len(args):
            return m.group(0)
        bound = dict(zip(params, args))
        parts = [f"({bound[part]})" if part in bound else part for part in expr.removesuffix(" end").split(" .. ")]
        return "(" + " .. ".join(parts) + ")"

    body = _CALL.sub(call, body)
    body = re.sub(r"\bTASK\.([A-Z_]+)\b", lambda m: _quote(TaskStatus.__members__[m.group(1)].value), body)
    return re.sub(r"\bRUN\.([A-Z_]+)\b", lambda m: _quote(RunStatus.__members__[m.group(1)].value), body)
