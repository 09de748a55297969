"""The layer order of docs/concepts/architecture.md, enforced.

Reads the layer table from the doc itself (one place), walks every import of every module in the source
packages — module level, inside functions and under ``TYPE_CHECKING`` alike — and fails on an import that
goes to a higher layer, on a module no layer claims, and on any circle of modules. There is no exceptions
list: a new edge that breaks the order is a design question, answered in the doc or in the code.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "concepts" / "architecture.md"
SOURCES = ("orchestrator", "store", "workers", "localcluster", "reports", "slaflow", "webui", "experiments")


def layer_table() -> list[tuple[int, str, list[str]]]:
    """``(number, name, patterns)`` per row of the doc's layer table (patterns in backticks)."""
    rows = []
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\|\s*(\d+)\s*\|\s*\*{0,2}(\w+)\*{0,2}\s*\|([^|]*)\|", line)
        if m:
            rows.append((int(m.group(1)), m.group(2), re.findall(r"`([\w.*]+)`", m.group(3))))
    return rows


def modules() -> dict[str, Path]:
    out = {}
    for top in SOURCES:
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    def resolve(name: str) -> str | None:
        while name:
            if name in mods:
                return name
            name = name.rpartition(".")[0]
        return None

    edges: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        out = edges.setdefault(mod, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [resolve(f"{base}.{alias.name}") or resolve(base) for alias in node.names]
            out.update(t for t in targets if t and t != mod)
    return edges


def layer_of(mod: str, table) -> tuple[int, str] | None:
    """The layer of the most specific pattern matching ``mod`` (a pattern covers its submodules)."""
    best = None
    for number, name, patterns in table:
        for pattern in patterns:
            if fnmatch.fnmatchcase(mod, pattern) or fnmatch.fnmatchcase(mod, pattern + ".*"):
                score = len(pattern.replace("*", ""))
                if best is None or score > best[0]:
                    best = (score, number, name)
    return None if best is None else (best[1], best[2])


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_doc_has_a_layer_table():
    table = layer_table()
    assert [number for number, _, _ in table] == list(range(1, len(table) + 1))
    assert all(patterns for _, _, patterns in table)


def test_every_module_belongs_to_a_layer():
    table = layer_table()
    assert [mod for mod in sorted(modules()) if layer_of(mod, table) is None] == []


def test_no_import_goes_up_a_layer():
    table = layer_table()
    edges = import_graph(modules())
    upward = []
    for src, targets in sorted(edges.items()):
        own = layer_of(src, table)
        for dst in sorted(targets):
            theirs = layer_of(dst, table)
            if own and theirs and theirs[0] > own[0]:
                upward.append(f"{src} ({own[1]}) -> {dst} ({theirs[1]})")
    assert upward == []


def test_no_circle_of_imports():
    assert circles(import_graph(modules())) == []


def test_the_checker_sees_an_upward_edge_and_a_circle():
    table = [(1, "low", ["a"]), (2, "high", ["b"])]
    assert layer_of("a.x", table) == (1, "low")
    assert layer_of("b", table) == (2, "high")
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def main() -> None:
    """Print the import graph by layer and by package (``python -m tests.unit.test_layers``)."""
    from collections import Counter

    table = layer_table()
    edges = import_graph(modules())
    by_layer: Counter = Counter()
    by_package: Counter = Counter()
    for src, targets in edges.items():
        for dst in targets:
            a, b = layer_of(src, table), layer_of(dst, table)
            if a and b and a != b:
                by_layer[(a, b)] += 1
            pa, pb = src.rsplit(".", 1)[0] if src.count(".") else src, dst.rsplit(".", 1)[0] if dst.count(".") else dst
            if pa != pb:
                by_package[(pa, pb)] += 1
    print(f"{len(edges)} modules, {sum(len(t) for t in edges.values())} imports, {len(circles(edges))} circles")
    print("\nlayer -> layer (imports)")
    for ((na, la), (nb, lb)), count in sorted(by_layer.items()):
        print(f"  {na} {la:<10} -> {nb} {lb:<10} {count:4d}{'   UPWARD' if nb > na else ''}")
    print("\npackage -> package (imports)")
    for (pa, pb), count in sorted(by_package.items()):
        print(f"  {pa:<34} -> {pb:<34} {count:4d}")


if __name__ == "__main__":
    main()
