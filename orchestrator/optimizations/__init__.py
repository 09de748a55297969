"""Optimizations' rules: one package per optimization, ``<name>/rule.py`` beside ``<name>/runtime.py``.

    package     rule (``annotate(plan, graph, predictor, params)``     runtime
                -> {node: parameters})
    preload     a task with ≥ 2 inputs from other workers             its worker fetches them as they appear
    prewarm     a branch predicted to start cold: a sender on         the sender pings the target's queue
                another worker and a moment
    taskdup     a consumer's fast, small-input upstreams on other     the waiting worker may run one itself
                workers
    clustering  every flexible task with children (WUKONG)            a big output's children run where it is
    streaming   a task with a consumer outside its branch             a big output is read while written

This package is the rules layer (docs/concepts/architecture.md): it sees
plans and the planning layer's model, never Redis, Celery or a worker. The
planners do not import it either: services hand it to them as
``PlannerConfig.rules`` (``planning.rules`` says what a planner asks of it),
and they call ``annotate`` (the ``-opt`` planners run every rule; any planner
keeps what an author forced with ``@task(optimizations=[...])`` or a spec's
``options``); the timing model learns what the annotations change
(``planning.effects``). The runtime side registers itself: workers run the
hooks of the optimizations a plan uses (``workers.core_hooks`` imports each
``<name>.runtime``). Parameters come from settings. A submission may force
only the names in ``orchestrator.core.options.OPTIMIZATIONS`` (the same as
``NAMES``).
"""

from __future__ import annotations

from typing import Any

from orchestrator.optimizations.clustering import rule as clustering
from orchestrator.optimizations.preload import rule as preload
from orchestrator.optimizations.prewarm import rule as prewarm
from orchestrator.optimizations.streaming import rule as streaming
from orchestrator.optimizations.taskdup import rule as taskdup

MODULES = {m.NAME: m for m in (preload, prewarm, taskdup, clustering, streaming)}  # name → its rule module
NAMES = tuple(MODULES)
OPT_PLANNERS = {
    "uniform-opt": ("preload", "prewarm", "taskdup", "streaming"),
    "non-uniform-opt": ("preload", "prewarm", "taskdup", "streaming"),
    "wukong-opt": ("clustering", "streaming"),
}


def for_planner(planner: str) -> tuple[str, ...]:
    """The optimizations a planner applies by rule."""
    return OPT_PLANNERS.get(planner, ())


def annotate(
    plan, graph, predictor, *, names: tuple[str, ...], params: dict[str, dict], flexible: bool = False
) -> dict[str, dict[str, Any]]:
    """node → {optimization: parameters}: each named rule's choices, then what authors forced.
    ``flexible``: a plan of flexible workers only, where only the rules made for them apply."""
    out: dict[str, dict[str, Any]] = {}
    allowed = {n for n, m in MODULES.items() if getattr(m, "FLEXIBLE", False)} if flexible else set(MODULES)
    for name in (n for n in names if n in allowed):
        for nid, value in MODULES[name].annotate(plan, graph, predictor, params.get(name, {})).items():
            out.setdefault(nid, {})[name] = value
    for nid, node in graph.items():
        for name in node.options_dict.get("optimizations") or ():
            if name in allowed and name not in out.get(nid, {}):
                value = MODULES[name].forced(nid, plan, graph, predictor, params.get(name, {}))
                if value is not None:
                    out.setdefault(nid, {})[name] = value
    return out


def summary(annotations: dict[str, dict]) -> str:
    counts = {name: sum(name in a for a in annotations.values()) for name in NAMES}
    return ", ".join(f"{MODULES[n].LABEL} on {k} task(s)" for n, k in counts.items() if k)
