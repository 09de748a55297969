"""The submission validator: every check a run passes before anything is stored, for every way in.

Every entry point ends in ``services.runs.submit_run`` — REST (a library
workflow or a JSON graph spec), the Python API (``slaflow.submit`` with a
graph of ``@task`` calls, ``slaflow.submit_spec`` with a spec), the CLI, the
web UI's launch form and the library runner of commands and campaigns (library
workflows, through ``runs.submit_library``) — and ``submit_run`` calls
``check`` here first, so one rule holds everywhere:

* the run's settings: planner, SLA, time limits, optimizations, rescue, webhook;
* every constant of every node plain JSON (``check_plain_json``): no NUL
  character, no lone surrogate, no NaN or infinity, no nesting deeper than
  ``MAX_DEPTH`` — what Postgres, Redis and a JSON response can all carry;
* the size: at most ``max_tasks`` tasks (``SLAFLOW_API_MAX_TASKS`` for specs
  and library workflows), a spec of at most ``SLAFLOW_MAX_SPEC_BYTES``;
* the graph's shape (``graph.validate``), its functions (importable; from the
  network only built-ins and the registered workflow modules, with their
  bounds), its commands' policies, its task options.

What comes as a document is checked as a document first: a spec or library
parameters pass ``check_plain_json`` before anything parses or echoes them
(``spec_graph``, ``library_graph``), so the same hostile spec is refused
with the same error by REST and ``slaflow.submit_spec``, and the same
hostile parameters by REST, the CLI, the web form and the runner.

Every rejection is a ``SubmissionError`` naming the field at fault (REST: a
400 field error). Cheap checks come first, so an unknown planner is reported
without building a graph; library graphs are built under the task budget so
parameters cannot make the server build a million-node graph. Plan previews
(``services.previews``) use the same checks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

from django.conf import settings

from orchestrator import executables, optimizations as opt_mod, planning
from orchestrator.core import (
    authoring,
    graph as graph_mod,
    options as task_options,
    sinks,
    sla as sla_mod,
    spec as spec_mod,
)
from orchestrator.core.graph import GraphError
from orchestrator.models import Workflow
from orchestrator.services import webhooks
from orchestrator.services.errors import SubmissionError
from workers import functions

NAME_MAX = Workflow._meta.get_field("name").max_length
MAX_DEPTH = 64


@dataclass(frozen=True)
class Checked:
    """A submission that passed ``check``: what ``submit_run`` stores, normalised."""

    graph: dict  # sinks joined, pushed code pinned
    spec: dict  # the graph's JSON form (``spec.to_spec``), as stored
    sla: str  # normalised ('average' or 'pN')
    optimizations: tuple[str, ...] | None
    rescue: bool
    webhook_url: str | None


def check(
    *,
    graph,
    name,
    planner: str,
    sla: str,
    owner=None,
    allowed_modules: Iterable[str] | None = None,
    timeout_s=None,
    deadline_s=None,
    optimizations=None,
    max_tasks: int | None = None,
    webhook_url=None,
    rescue=None,
) -> Checked:
    """Everything that can be checked before storing anything (see the module's docstring).
    ``allowed_modules``: given for a submission from the network (``functions.registered_modules()``)."""
    check_name(name)
    check_limits(timeout_s=timeout_s, deadline_s=deadline_s)
    optimizations = check_optimizations(optimizations)
    if rescue is not None and not isinstance(rescue, bool):
        raise SubmissionError(f"rescue must be true or false, got {rescue!r}", "rescue")
    rescue = bool(settings.SLAFLOW_RESCUE) if rescue is None else rescue
    if webhook_url is not None:
        try:
            webhook_url = webhooks.check_url(webhook_url)
        except webhooks.WebhookError as exc:
            raise SubmissionError(str(exc), "webhook_url") from None
    sla = check_planner_and_sla(planner=planner, sla=sla)
    graph = sinks.joined(graph)  # several sinks: one more task collects their values
    check_values(graph)
    if max_tasks is not None and len(graph) > max_tasks:
        raise SubmissionError(f"the graph has {len(graph)} tasks, more than the limit of {max_tasks}", "dag")
    graph = pin_code(graph, owner, network=allowed_modules is not None)
    spec = check_graph(graph, allowed_modules)
    check_spec_size(spec)
    return Checked(graph=graph, spec=spec, sla=sla, optimizations=optimizations, rescue=rescue, webhook_url=webhook_url)


# --- the run's settings -------------------------------------------------------------------------


def check_name(name) -> str:
    if not name or not isinstance(name, str) or not name.strip():
        raise SubmissionError(f"a workflow name must be non-empty text, got {name!r}", "name")
    if len(name) > NAME_MAX or "\x00" in name:
        raise SubmissionError(f"a workflow name must be at most {NAME_MAX} characters without NUL", "name")
    check_plain_json(name, "name")
    return name


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


def check_limits(*, timeout_s=None, deadline_s=None) -> None:
    for label, value in (("timeout_s", timeout_s), ("deadline_s", deadline_s)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0
        ):
            raise SubmissionError(f"{label} must be a number of seconds > 0, got {value!r}", label)


def check_optimizations(names) -> tuple[str, ...] | None:
    """A run's optimization list: None, or known names (``orchestrator.optimizations``) without repeats."""
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise SubmissionError(f"optimizations must be a list of names, got {names!r}", "optimizations")
    unknown = [n for n in names if n not in opt_mod.NAMES]
    if unknown:
        raise SubmissionError(
            f"unknown optimization(s) {', '.join(map(repr, unknown))} (known: {', '.join(opt_mod.NAMES)})",
            "optimizations",
        )
    return tuple(dict.fromkeys(names))


# --- values and size ----------------------------------------------------------------------------


def check_plain_json(value: Any, field: str, where: str | None = None) -> None:
    """Reject what cannot be stored and handled safely: NUL characters in text, lone surrogates (JSON's
    ``\\ud800`` escape: no database or response can encode them), non-finite numbers, and nesting deeper than
    MAX_DEPTH (recursive encoders further down would overflow the stack). ``where`` names the value in the
    message (default: ``field``)."""
    stack = [(value, where or field, 0)]
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
                    raise SubmissionError(
                        f"{where} is not valid Unicode: it holds a lone surrogate (U+{ord(item[exc.start]):04X})", field
                    ) from None
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise SubmissionError(f"{where} holds {item!r}, which JSON cannot carry", field)
        elif isinstance(item, dict):
            for key, sub in item.items():
                stack.append((key, f"{where} key", depth + 1))
                stack.append((sub, f"{where}[{key!r}]", depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))


def check_values(graph) -> None:
    """Every node's id, function, constants and options plain JSON (``check_plain_json``), named by node."""
    for nid, node in graph.items():
        check_plain_json(nid, "dag", f"node id {nid!r}")
        check_plain_json(node.function, "dag", f"node {nid!r} function")
        for i, arg in enumerate(node.args):
            check_plain_json(arg, "dag", f"node {nid!r} args[{i}]")
        for key, value in node.kwargs:
            check_plain_json(key, "dag", f"node {nid!r} kwargs key")
            check_plain_json(value, "dag", f"node {nid!r} kwargs[{key!r}]")
        check_plain_json(dict(node.options), "dag", f"node {nid!r} options")


def check_spec_size(spec: dict) -> None:
    """The stored spec (constants included) at most ``SLAFLOW_MAX_SPEC_BYTES``: it is kept in Postgres
    and read by every branch from Redis."""
    limit = int(settings.SLAFLOW_MAX_SPEC_BYTES)
    size = len(json.dumps(spec, separators=(",", ":")))
    if size > limit:
        raise SubmissionError(f"the graph spec is {size} bytes, over SLAFLOW_MAX_SPEC_BYTES={limit}", "dag")


# --- the graph ----------------------------------------------------------------------------------


def check_graph(graph, allowed_modules: Iterable[str] | None = None) -> dict:
    """Shape, functions (``allowed_modules``: from the network, with their bounds), commands and task
    options of a graph whose values passed ``check_values``. Returns its spec."""
    try:
        graph_mod.validate(graph)
        functions.check_graph(graph, allowed_modules)
        if allowed_modules is not None:  # from the network: library task functions keep their bounds
            functions.check_bounds(graph)
    except GraphError as exc:
        raise SubmissionError(str(exc), "dag") from None
    for nid, node in graph.items():
        try:
            task_options.check(node.options_dict, f"node {nid!r}")
        except task_options.OptionError as exc:
            raise SubmissionError(str(exc), "dag") from None
    try:
        return spec_mod.to_spec(graph)
    except GraphError as exc:
        raise SubmissionError(str(exc), "dag") from None


def pin_code(graph, owner, *, network: bool):
    """References to pushed code pinned to their hashes, checked against what ``owner`` may use (400 on ``dag``)."""
    from orchestrator.core import codechecks as code_checks
    from orchestrator.services import code as code_service

    try:
        return code_service.pin_graph(graph, owner, network=network)
    except code_checks.CodeError as exc:
        raise SubmissionError(str(exc), "dag") from None


# --- documents: library parameters and JSON specs ----------------------------------------------


def library_params(name: str, params: dict | None) -> dict:
    """A library workflow's parameters, coerced to their types within their bounds (``Workflow.coerce``),
    plain JSON before and after (``"1e400"`` for a float parameter coerces to inf). Also what the web
    launch form and ``slaflow run`` check their parameters with, so they refuse what REST refuses, alike."""
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
    except ValueError as exc:
        raise SubmissionError(str(exc), "params") from None
    check_plain_json(values, "params")
    return values


def library_graph(name: str, params: dict | None) -> tuple[dict, dict]:
    """(graph, coerced params) of a library workflow, within the API's task budget."""
    from slaflow import workflows

    values = library_params(name, params)
    try:
        with authoring.node_budget(settings.SLAFLOW_API_MAX_TASKS):
            graph = authoring.build_graph(workflows.get(name).build(**values))
    except executables.DisallowedExecutableError as exc:  # it needs a program that is not allowed here
        raise SubmissionError(f"workflow {name!r} is unavailable here: {exc}", "workflow") from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # GraphError and GraphTooLarge are ValueErrors
        raise SubmissionError(str(exc), "params") from None
    return graph, values


def spec_graph(spec: Any) -> dict:
    """The graph of a JSON spec (ending in ``sinks.collect`` when it has several sinks), at most
    ``SLAFLOW_API_MAX_TASKS`` tasks; shape errors name the node and field, cycles name the cycle."""
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    if isinstance(nodes, list) and len(nodes) > settings.SLAFLOW_API_MAX_TASKS:
        raise SubmissionError(
            f"the graph has {len(nodes)} tasks, more than the limit of {settings.SLAFLOW_API_MAX_TASKS}", "dag"
        )
    check_spec_document(spec)
    try:
        return sinks.joined(spec_mod.from_spec(spec))  # several sinks: one more task collects their values
    except GraphError as exc:
        raise SubmissionError(str(exc), "dag") from None


def check_spec_document(spec: Any) -> None:
    """A spec as sent, plain JSON before anything parses or echoes it; its nodes' values named as
    ``check_values`` names a graph's (``node 'a' args[0]``), so a hostile spec is refused with the same
    error as the same graph built in Python; the rest by its place in the document."""
    if not isinstance(spec, dict):
        check_plain_json(spec, "dag")
        return
    for key, value in spec.items():
        check_plain_json(key, "dag", "dag key")
        if key != "nodes" or not isinstance(value, list):
            check_plain_json(value, "dag", f"dag[{key!r}]")
            continue
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                check_plain_json(entry, "dag", f"nodes[{i}]")
                continue
            nid = entry.get("id")
            node = f"node {nid!r}" if isinstance(nid, str) else f"nodes[{i}]"
            for field, item in entry.items():
                check_plain_json(field, "dag", f"{node} field")
                if field == "args" and isinstance(item, list):
                    for j, arg in enumerate(item):
                        check_plain_json(arg, "dag", f"{node} args[{j}]")
                elif field == "kwargs" and isinstance(item, dict):
                    for k, v in item.items():
                        check_plain_json(k, "dag", f"{node} kwargs key")
                        check_plain_json(v, "dag", f"{node} kwargs[{k!r}]")
                else:
                    check_plain_json(item, "dag", f"node id {nid!r}" if field == "id" else f"{node} {field}")


def spec_name(name: str | None, spec: Any) -> str:
    """The run's name: ``name``, else the spec's, else "workflow"."""
    return check_name(name or (spec.get("name") if isinstance(spec, dict) else None) or "workflow")
