"""Submissions from the network (REST API): library workflows and JSON graph specs.

Everything a client sends is checked here before anything is stored, and
every rejection is a ``SubmissionError`` naming the request field at fault
(the API turns it into a 400 field error). Cheap checks come first, so an
unknown planner is reported without building a graph, and library graphs are
built under a task budget so parameters cannot make the server build a
million-node graph; the same budget bounds the run's mapped elements at run
time. The user's quotas (``services.quotas``) are checked first.
"""
from __future__ import annotations

import math
from typing import Any

from django.conf import settings

from orchestrator.core import authoring, sinks, sla as sla_mod, spec as spec_mod

from orchestrator import executables, planning

from workers import functions
from orchestrator.core.graph import GraphError
from orchestrator.models import Workflow, WorkflowRun
from orchestrator.services import quotas
from orchestrator.services.runs import SubmissionError, submit_run

NAME_MAX = Workflow._meta.get_field("name").max_length


def check_planner(planner: str, field: str = "planner") -> str:
    try:
        planning.get(planner)
    except planning.PlannerError as exc:
        raise SubmissionError(str(exc), field) from None
    return planner


def check_sla(sla: str, field: str = "sla") -> str:
    """The normalised SLA text ('average' or 'pN')."""
    try:
        return str(sla_mod.parse(sla))
    except sla_mod.SLAError as exc:
        raise SubmissionError(str(exc), field) from None


def check_planner_and_sla(*, planner: str, sla: str) -> str:
    """The normalised SLA; raises SubmissionError for an unknown planner or a bad SLA."""
    check_planner(planner)
    return check_sla(sla)


MAX_DEPTH = 64


def check_plain_json(value: Any, field: str) -> None:
    """Reject what cannot be stored and handled safely: NUL characters in text, lone surrogates (JSON's
    ``\ud800`` escape: no database or response can encode them), non-finite numbers, and nesting deeper than
    MAX_DEPTH (recursive encoders further down would overflow the stack)."""
    stack = [(value, field, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SubmissionError(f"{where} nests values more than {MAX_DEPTH} levels deep", field)
        if isinstance(item, str):
            if "\x00" in item:
                raise SubmissionError(f"{where} contains a NUL character", field)
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise SubmissionError(f"{where} is not valid Unicode: it holds a lone surrogate "
                                          f"(U+{ord(item[exc.start]):04X})", field) from None
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise SubmissionError(f"{where} holds {item!r}, which JSON cannot carry", field)
        elif isinstance(item, dict):
            for key, sub in item.items():
                stack.append((key, f"{where} key", depth + 1))
                stack.append((sub, f"{where}[{key!r}]", depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))


def library_graph(name: str, params: dict | None) -> tuple[dict, dict]:
    """(graph, coerced params) of a library workflow, within the API's task budget."""
    from slaflow import workflows

    if not isinstance(name, str):
        raise SubmissionError(f"workflow must be a library workflow name, got {name!r}", "workflow")
    try:
        wf = workflows.get(name)
    except KeyError as exc:
        raise SubmissionError(exc.args[0], "workflow") from None
    params = params or {}
    if not isinstance(params, dict):
        raise SubmissionError("params must be an object of parameter values", "params")
    check_plain_json(params, "params")
    try:
        values = wf.coerce(params)
        check_plain_json(values, "params")  # "1e400" for a float parameter coerces to inf
        with authoring.node_budget(settings.SLAFLOW_API_MAX_TASKS):
            graph = authoring.build_graph(wf.build(**values))
    except executables.DisallowedExecutableError as exc:  # it needs a program that is not allowed here
        raise SubmissionError(f"workflow {name!r} is unavailable here: {exc}", "workflow") from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # GraphError and GraphTooLarge are ValueErrors
        raise SubmissionError(str(exc), "params") from None
    return graph, values


def spec_graph(spec: Any) -> dict:
    """The graph of a JSON spec (ending in ``sinks.collect`` when it has several sinks); shape errors
    name the node and field, cycles name the cycle."""
    check_plain_json(spec, "dag")
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    if isinstance(nodes, list) and len(nodes) > settings.SLAFLOW_API_MAX_TASKS:
        raise SubmissionError(
            f"the graph has {len(nodes)} tasks, more than the limit of {settings.SLAFLOW_API_MAX_TASKS}", "dag"
        )
    try:
        return sinks.joined(spec_mod.from_spec(spec))  # several sinks: one more task collects their values
    except GraphError as exc:
        raise SubmissionError(str(exc), "dag") from None


def spec_name(name: str | None, spec: Any) -> str:
    chosen = name or (spec.get("name") if isinstance(spec, dict) else None) or "workflow"
    if not isinstance(chosen, str) or not chosen.strip():
        raise SubmissionError(f"a workflow name must be non-empty text, got {chosen!r}", "name")
    if len(chosen) > NAME_MAX or "\x00" in chosen:
        raise SubmissionError(f"a workflow name must be at most {NAME_MAX} characters without NUL", "name")
    return chosen


def submit_library(*, user, workflow: str, params: dict | None, planner: str, sla: str,
                   timeout_s: float | None = None, deadline_s: float | None = None,
                   optimizations: list[str] | None = None, webhook_url: str | None = None,
                   rescue: bool | None = None) -> WorkflowRun:
    """Run a library workflow for ``user`` — every entry point (REST, web launch, commands, campaigns)
    comes here: every check first and the graph built once, under the task budget; nothing is stored if
    anything is wrong. A user over a quota is refused before the graph is built."""
    quotas.admit(user)
    sla = check_planner_and_sla(planner=planner, sla=sla)
    graph, values = library_graph(workflow, params)
    return submit_run(graph=graph, name=workflow, planner=planner, sla=sla, params=values, owner=user,
                      source=Workflow.Source.LIBRARY, timeout_s=timeout_s, deadline_s=deadline_s,
                      optimizations=optimizations, max_tasks=settings.SLAFLOW_API_MAX_TASKS, webhook_url=webhook_url,
                      rescue=rescue)


def submit_spec(*, user, spec: Any, name: str | None, planner: str, sla: str, timeout_s: float | None = None,
                deadline_s: float | None = None, optimizations: list[str] | None = None,
                webhook_url: str | None = None, rescue: bool | None = None) -> WorkflowRun:
    """Run a JSON graph spec for ``user``; functions must be built-ins or live in the registered workflow modules
    (``functions.registered_modules``)."""
    quotas.admit(user)
    sla = check_planner_and_sla(planner=planner, sla=sla)
    chosen = spec_name(name, spec)
    graph = spec_graph(spec)
    return submit_run(graph=graph, name=chosen, planner=planner, sla=sla, owner=user,
                      source=Workflow.Source.API, allowed_modules=functions.registered_modules(),
                      timeout_s=timeout_s, deadline_s=deadline_s, optimizations=optimizations,
                      max_tasks=settings.SLAFLOW_API_MAX_TASKS, webhook_url=webhook_url, rescue=rescue)
