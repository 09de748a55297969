"""The Lua prelude (``store.lua``): scripts name keys, states and codes; none spells them again."""

import ast
import pathlib
import re

import pytest

import store
from orchestrator.core.states import TASK_TRANSITIONS, RunStatus, TaskStatus
from store import keys, lua, readiness

STORE = pathlib.Path(store.__file__).parent
# Where else Lua scripts are written (the runtime's, the optimizations'): they get the prelude too.
ELSEWHERE = [STORE.parent / "workers", STORE.parent / "orchestrator" / "optimizations"]


def scripts(roots=None) -> list[tuple[str, str]]:
    """Every piece of Lua written in a module of ``store`` (and the other ``roots``): its string literals
    that call Redis or read ``KEYS``/``ARGV`` (a script joined from parts is checked part by part)."""
    found = []
    paths = sorted(STORE.glob("*.py")) + sorted(p for root in (roots or []) for p in root.rglob("*.py"))
    for path in paths:
        tree = ast.parse(path.read_text())
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                id(node) not in docstrings
                and isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.search(r"redis\.call|\bARGV\[|\bKEYS\[|\blocal function\b", node.value)
            ):
                found.append((f"{path.name}:{node.lineno}", node.value))
    return found


def quoted(lua_text: str) -> list[tuple[str, str]]:
    """(what precedes it on its line, its text) for every quoted Lua string."""
    out = []
    for m in re.finditer(r"(['\"])(.*?)\1", lua_text):
        line_start = lua_text.rfind("\n", 0, m.start()) + 1
        out.append((lua_text[line_start : m.start()].rstrip(), m.group(2)))
    return out


def test_the_scripts_are_found():
    names = {where.split(":")[0] for where, _ in scripts()}
    assert {"readiness.py", "dataplane.py", "lease.py", "fencing.py"} <= names


def test_no_script_spells_a_key_suffix_a_state_or_a_code_the_prelude_defines():
    suffixes = lua.suffixes()
    state_names = {s.value for s in TaskStatus} | {s.value for s in RunStatus}
    markers = {
        readiness.TAKEN_CLAIMED,
        readiness.TAKEN_LOCAL,
        readiness.TAKEN_QUEUED,
        readiness.TAKEN_DISPATCHED,
        readiness.TAKEN_HANDED,
        readiness.OWN,
        readiness.FLEX,
        readiness.OWN_NEW,
        readiness.OTHER,
        readiness.POP_OVER,
        readiness.POP_RETIRED,
    }
    wrong = []
    for where, text in scripts(ELSEWHERE):
        for before, s in quoted(text):
            if before.endswith("..") and s in suffixes:
                wrong.append((where, f"key suffix {s!r}: use K.<builder>(p, …)"))
            if s in state_names:
                wrong.append((where, f"state {s!r}: use TASK.<STATE> / RUN.<STATE>"))
            if s in markers:
                wrong.append((where, f"readiness constant {s!r}: use its name"))
        # An outcome code as a number: assigned to or compared with an outcome, or returned as one.
        for m in re.finditer(r"\b(out|res\[[^\]]*\])\s*(=|==|~=)\s*-?\d+|\{\{\s*-?\d+\s*\}", text):
            wrong.append((where, f"outcome code {m.group(0)!r}: use its name"))
        # A number literal spelled for a Python constant the prelude defines.
        if re.search(r"\b86400\b", text):
            wrong.append((where, "a TTL spelled: use the constant"))
    assert wrong == []


def test_every_script_of_the_store_compiles_with_its_prelude(redis_server):
    """Each whole script of a store module (and its fenced form) loads in Redis with the prelude."""
    from store import dataplane, fencing, lease
    from workers import topup

    loaded = 0
    for module in (readiness, dataplane, lease, topup):
        for name, value in vars(module).items():
            if name.startswith("_") and isinstance(value, str) and "redis.call" in value:
                for body in (value, fencing.PRELUDE + value):
                    redis_server.script_load(lua.with_prelude(body))
                    loaded += 1
    assert loaded >= 16


def test_the_check_catches_what_it_is_for():
    """The old spelling of readiness's scripts fails the check above (so it cannot pass vacuously)."""
    old = (
        "local out = 3\nredis.call('HSET', p .. 'taken', child, 'p:' .. tok)\n"
        "redis.call('HSET', p .. 'states', node, 'running')"
    )
    bad = [s for before, s in quoted(old) if (before.endswith("..") and s in lua.suffixes()) or s == "running"]
    assert bad == ["taken", "states", "running"]
    assert re.search(r"\b(out|res\[[^\]]*\])\s*(=|==|~=)\s*-?\d+", old)


def test_every_key_builder_of_the_prelude_builds_the_name_python_builds(redis_server):
    """Run in Redis: each generated ``K.<builder>`` gives byte for byte the key ``store.keys`` gives."""
    run_id, token, mb, host = 4242, "r4242-x2048-a-1", 2048, "host-1"
    values = {"token": token, "memory_mb": mb, "host": host, "node_id": "n|7"}
    checked = 0
    for name in lua.key_builders():
        fn = getattr(keys, name)
        params = list(fn.__code__.co_varnames[1 : fn.__code__.co_argcount])
        body = f"return K.{name}(ARGV[1]" + "".join(f", ARGV[{i + 2}]" for i in range(len(params))) + ")"
        got = redis_server.eval(lua.with_prelude(body), 0, keys.run_prefix(run_id), *[values[p] for p in params])
        assert got.decode() == fn(run_id, *[values[p] for p in params]), name
        checked += 1
    assert checked >= 30 and {"deps", "dep_counts", "ready_on", "wake", "held", "states"} <= set(lua.key_builders())


def test_the_prelude_carries_the_state_tables(redis_server):
    body = (
        "return {TASK.RUNNING, RUN.FAILED, tostring(TASK_MOVES[TASK.RUNNING][TASK.SUCCEEDED]), "
        "tostring(TASK_MOVES[TASK.RUNNING][TASK.SKIPPED])}"
    )
    got = [x.decode() for x in redis_server.eval(lua.with_prelude(body), 0)]
    assert got == ["running", "failed", "true", "nil"]
    assert TaskStatus.SKIPPED not in TASK_TRANSITIONS[TaskStatus.RUNNING]


def test_a_script_gets_only_the_definitions_it_uses():
    assert lua.with_prelude("return 1") == "return 1"
    prelude = lua.prelude("return K.deps(ARGV[1])")
    assert "K.deps" in prelude and "K.taken" not in prelude and "TASK" not in prelude


def test_named_arguments_are_packed_in_the_order_the_script_reads_them(redis_server):
    names = ("node", "tok", "ttl")
    body = lua.argv(names) + "return {node, tok, ttl, ARGV[ARGV_REST]}"
    args = lua.pack(names, ttl=60, tok="t", node="n") + ["rest"]
    assert [x.decode() for x in redis_server.eval(lua.with_prelude(body), 0, *args)] == ["n", "t", "60", "rest"]
    with pytest.raises(TypeError):
        lua.pack(names, node="n", tok="t")
