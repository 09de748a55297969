"""Resolving a node's dotted function path to the callable a worker runs.

Task code is imported, never shipped: a path must name an importable module
attribute. Paths submitted over the network must also live under one of the
allowed workflow modules (``SLAFLOW_WORKFLOW_MODULES`` plus the library).
"""
from __future__ import annotations

import importlib
from typing import Callable, Iterable

from orchestrator.graph import Graph, GraphError


class UnknownFunctionError(GraphError):
    pass


class DisallowedFunctionError(GraphError):
    pass


def resolve(path: str) -> Callable:
    """The plain Python callable behind ``path`` (unwrapping @task)."""
    module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise UnknownFunctionError(f"function {path!r} is not a dotted path like 'package.module.function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownFunctionError(f"function {path!r}: module {module_name!r} cannot be imported ({exc})") from None
    target = getattr(module, attr, None)
    if target is None:
        raise UnknownFunctionError(f"function {path!r}: module {module_name!r} has no attribute {attr!r}")
    target = getattr(target, "fn", target)  # a TaskFunction wraps the plain function
    if not callable(target):
        raise UnknownFunctionError(f"function {path!r} is not callable")
    return target


def is_allowed(path: str, modules: Iterable[str]) -> bool:
    return any(path == m or path.startswith(m + ".") for m in modules)


def check_graph(graph: Graph, allowed_modules: Iterable[str] | None = None) -> None:
    """Every function importable (and, when given, inside the allowed modules); every command's
    program on the allow-list (``orchestrator.executables``)."""
    from orchestrator import executables

    for node in graph.values():
        if node.function == executables.FUNCTION:
            argv = node.args[0] if node.args else node.kwargs_dict.get("argv")
            executables.check_argv(argv, f"node {node.id!r}")
    # built-in task functions: programs as tasks, and the task that collects several sinks' values
    allowed = tuple(allowed_modules) + ("orchestrator.executables", "orchestrator.sinks") \
        if allowed_modules is not None else None
    for path in sorted({node.function for node in graph.values()}):
        if allowed is not None and not is_allowed(path, allowed):
            raise DisallowedFunctionError(
                f"function {path!r} is outside the allowed workflow modules ({', '.join(allowed)})"
            )
        target = resolve(path)
        # The path may re-export a name imported from elsewhere (``from os import system``):
        # what counts is where the code is defined.
        defined_in = getattr(target, "__module__", None) or ""
        if allowed is not None and not is_allowed(defined_in, allowed):
            raise DisallowedFunctionError(
                f"function {path!r} is defined in {defined_in or 'an unknown module'!r}, outside the allowed "
                f"workflow modules ({', '.join(allowed)})"
            )
