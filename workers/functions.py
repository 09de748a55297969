"""Resolving a node's dotted function path to the callable a worker runs.

Task code is imported, never shipped: a path must name an importable module
attribute. A submission from the network (REST, plan previews, the web UI)
may name only:

* a function of a **registered workflow module**: exactly a module listed in
  ``SLAFLOW_WORKFLOW_MODULES`` or one of the library's task modules
  (``slaflow.workflows.task_modules()``) — installed code the operator
  chose, named by the settings, never by the submission. A path whose module
  is not registered is refused *before anything is imported*: a ``.py`` file
  that somehow appeared inside an allowed package is never executed by
  validating a spec that names it;
* a built-in, by exact name (``BUILTINS``: programs as tasks, and the tasks
  that collect several sinks' values), not any other function of those modules.

The function must also be *defined* in a registered module (a re-export such
as ``from os import system`` inside a workflow module is refused). A module
that declares ``BOUNDS`` (each library workflow's parameter bounds; and
``TASK_BOUNDS`` for its tasks' parameters named otherwise) bounds its
functions' parameters of those names too: a submission gives each a number
within its bound, never a task's output (unknown until it runs), so naming
``big_transfer.produce`` directly cannot ask for the 100 GB its workflow's
``size_mb`` bound refuses. Python
callers of ``submit`` are trusted (they run code already): their graphs may
name any importable function.

A node may also name a function of **pushed code** (``orchestrator.pushed``):
``code:<name>@<version>:<function>``, pinned at submission to
``code:<name>@sha256:<hex>:<function>`` after checking the submitter owns the
code or has it shared (``pushed.service.pin_graph``). Checking a graph never
imports pushed code (it runs only on workers); ``resolve`` fetches and imports
it there (``pushed.loader``).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Callable, Iterable

from orchestrator.core import coderefs as refs
from orchestrator.core.graph import Graph, GraphError, iter_refs
from workers import codeloader as loader

BUILTINS = frozenset(
    {"orchestrator.executables.run", "orchestrator.core.sinks.collect", "orchestrator.core.sinks.collect_list"}
)


class UnknownFunctionError(GraphError):
    pass


class DisallowedFunctionError(GraphError):
    pass


def registered_modules() -> tuple[str, ...]:
    """The exact modules a submission's functions may come from: the library's, then SLAFLOW_WORKFLOW_MODULES."""
    from django.conf import settings

    from slaflow import workflows

    return workflows.task_modules() + tuple(settings.SLAFLOW_WORKFLOW_MODULES)


def resolve(path: str) -> Callable:
    """The plain Python callable behind ``path`` (unwrapping @task); imports its module (pushed code: fetched,
    verified and imported by ``pushed.loader``)."""
    if refs.is_ref(path):
        try:
            return loader.resolve(path)
        except (refs.RefError, LookupError, AttributeError, TypeError, loader.CodeIntegrityError) as exc:
            raise UnknownFunctionError(str(exc)) from None
    module_name, attr = _split(path)
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


def resolve_registered(path: str, modules: Iterable[str]) -> Callable:
    """``resolve`` for a submission: only a built-in or a function defined in one of ``modules`` (exact names);
    a module not among them is refused without being imported."""
    if path in BUILTINS:
        return resolve(path)
    modules = tuple(modules)
    if refs.is_ref(path):
        raise DisallowedFunctionError(
            f"function {path!r}: pushed code is checked by pinning it (pushed.service.pin_graph), never imported here"
        )
    module_name, attr = _split(path)
    if module_name not in modules:
        raise DisallowedFunctionError(
            f"function {path!r}: module {module_name!r} is not a registered workflow module (the library's task "
            f"modules and SLAFLOW_WORKFLOW_MODULES: {', '.join(_shown(modules))}); it was not imported"
        )
    if attr.startswith("__"):
        raise DisallowedFunctionError(f"function {path!r}: {attr!r} is not a task function")
    target = resolve(path)
    # The path may re-export a name imported from elsewhere (``from os import system``):
    # what counts is where the code is defined.
    defined_in = getattr(target, "__module__", None) or ""
    if defined_in not in modules:
        raise DisallowedFunctionError(
            f"function {path!r} is defined in {defined_in or 'an unknown module'!r}, outside the registered "
            f"workflow modules ({', '.join(_shown(modules))})"
        )
    return target


def _split(path: str) -> tuple[str, str]:
    module_name, _, attr = path.rpartition(".") if isinstance(path, str) else ("", "", "")
    if not module_name or not attr:
        raise UnknownFunctionError(f"function {path!r} is not a dotted path like 'package.module.function'")
    return module_name, attr


def _shown(modules: tuple[str, ...]) -> list[str]:
    from slaflow import workflows

    library = set(workflows.task_modules())
    return ([f"{workflows.__name__}.*"] if library & set(modules) else []) + [m for m in modules if m not in library]


def check_graph(graph: Graph, allowed_modules: Iterable[str] | None = None) -> None:
    """Every command's argv within its program's policy (``orchestrator.executables``); every function
    importable — and, when ``allowed_modules`` is given (a submission from the network: pass
    ``registered_modules()``), a built-in or defined in exactly one of those modules, found without
    importing anything else."""
    from orchestrator import executables

    for node in graph.values():
        if node.function == executables.FUNCTION:
            executables.check_node(node, f"node {node.id!r}")
    modules = tuple(allowed_modules) if allowed_modules is not None else None
    for path in sorted({node.function for node in graph.values()}):
        if refs.is_ref(path):
            _check_pinned(path)  # pinned at submission; imported only by the workers
        elif modules is None:
            resolve(path)
        else:
            resolve_registered(path, modules)


def check_bounds(graph: Graph) -> None:
    """A submission from the network: each function of a module declaring bounds gets bounded arguments
    (``_check_node_bounds``). Call after ``check_graph`` with the registered modules."""
    for node in graph.values():
        if node.function not in BUILTINS and not refs.is_ref(node.function):
            _check_node_bounds(node, resolve(node.function))


def _check_pinned(path: str) -> None:
    try:
        ref = refs.parse(path)
    except refs.RefError as exc:
        raise UnknownFunctionError(str(exc)) from None
    if not ref.pinned:
        raise UnknownFunctionError(
            f"function {path!r}: a reference to pushed code must be pinned to its hash "
            "before it is checked (pushed.service.pin_graph)"
        )


def _check_node_bounds(node, fn: Callable) -> None:
    """Each argument of ``node`` bound to a parameter its module's ``BOUNDS`` names: a number within the bound,
    never a task's output (a mapped node's element included): even a seed (``stream_pipeline`` multiplies it,
    and a list times 1000 is a list 1000 times as long)."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    bounds = {}
    for table in (getattr(module, "BOUNDS", None), getattr(module, "TASK_BOUNDS", None)):
        bounds.update(table if isinstance(table, dict) else {})
    if not bounds:
        return
    try:
        call = inspect.signature(fn).bind_partial(*node.args, **node.kwargs_dict)
    except (TypeError, ValueError):
        return  # the call fails on the worker, as it would anywhere
    for name, value in call.arguments.items():
        bound = bounds.get(name)
        if bound is None:
            continue
        where = f"node {node.id!r}: parameter {name!r} of {node.function!r}"
        if any(True for _ in iter_refs(value)):
            raise DisallowedFunctionError(f"{where} is bounded ({bound!r}): give a constant, not a task's output")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DisallowedFunctionError(f"{where} must be a number at most {bound!r}, got {value!r}")
        if value > bound:
            raise DisallowedFunctionError(f"{where} is {value!r}, more than its bound of {bound!r}")
