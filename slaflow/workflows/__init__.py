"""The workflow library: example workflows with deterministic inputs and result checks.

Each module registers one ``LibraryWorkflow``: ``build(**params)`` returns the
sink of a lazily built graph, ``check(result, **params)`` says whether a
result is right. ``get(name)`` and ``WORKFLOWS`` are the registry; ``task_modules()``
names the modules holding the library's task functions (``workers.functions``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

MODULES = (
    "tree_reduction",
    "gemm",
    "text_analysis",
    "image_transformer",
    "wordcount",
    "fanouts_fanins",
    "fixed_times",
    "diamond",
    "straggler",
    "scattered_fanin",
    "cold_stage",
    "chain_and_stage",
    "big_fanout",
    "big_transfer",
    "stream_pipeline",
    "unix_words",
    "sensor_report",
    "dynamic_chunks",
)
# Modules whose task functions the library's graphs name: each workflow's, and the ones they load tasks from.
TASK_MODULES = MODULES + ("_cold_stage_tasks",)


@dataclass(frozen=True)
class LibraryWorkflow:
    name: str
    description: str
    build: Callable[..., Any]
    check: Callable[..., bool]
    params: dict[str, Any] = field(default_factory=dict)
    # Each numeric parameter's largest value: sizes and durations come from users, and one submission
    # must not ask a worker for a 10 GB array or an hour-long sleep (a test keeps every one declared).
    bounds: dict[str, float] = field(default_factory=dict)

    def coerce(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Defaults updated with ``raw``, each converted to its default's type and within its bound;
        names the bad one."""
        out = dict(self.params)
        for key, value in raw.items():
            if key not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise ValueError(f"{self.name} has no parameter {key!r} (parameters: {known})")
            kind = type(self.params[key])
            try:
                out[key] = _convert(value, kind)
            except (TypeError, ValueError, OverflowError):
                raise ValueError(f"{self.name} parameter {key!r} must be {kind.__name__}, got {value!r}") from None
            bound = self.bounds.get(key)
            if bound is not None and isinstance(out[key], (int, float)) and out[key] > bound:
                raise ValueError(f"{self.name} parameter {key!r} is {out[key]!r}, more than its bound of {bound!r}")
        return out


def _convert(value, kind):
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes"):
            return True
        if str(value).lower() in ("0", "false", "no"):
            return False
        raise ValueError(value)
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    if kind in (int, float) and isinstance(value, bool):
        raise ValueError(value)
    if kind in (int, float) and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        raise ValueError(value)
    return kind(value)


WORKFLOWS: dict[str, LibraryWorkflow] = {}


def register(workflow: LibraryWorkflow) -> LibraryWorkflow:
    WORKFLOWS[workflow.name] = workflow
    return workflow


def _load_all() -> None:
    for mod in MODULES:
        importlib.import_module(f"{__name__}.{mod}")


def task_modules() -> tuple[str, ...]:
    """The library's task modules by full name: what a submission may name besides SLAFLOW_WORKFLOW_MODULES."""
    return tuple(f"{__name__}.{mod}" for mod in TASK_MODULES)


def get(name: str) -> LibraryWorkflow:
    _load_all()
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise KeyError(f"unknown workflow {name!r} (library: {', '.join(sorted(WORKFLOWS))})") from None


def all_workflows() -> dict[str, LibraryWorkflow]:
    _load_all()
    return dict(sorted(WORKFLOWS.items()))
