"""One submission validator, every way in (``services.submissions``).

A hostile graph — a NUL byte, a lone surrogate, a number JSON cannot carry, a
spec too large — is refused with the same error (field and message) by REST,
``slaflow.submit_spec`` and ``slaflow.submit``; hostile library parameters by
REST, the CLI (``slaflow run``), the web UI's launch form and the library
runner of commands and campaigns. Each refusal stores nothing. Every request
is refused before a worker is involved: the database and Redis are all these
tests need.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from orchestrator.core.authoring import build_graph
from orchestrator.services.errors import SubmissionError
from tests import taskfns as t
from tests.apiutil import client_for, stored_counts

pytestmark = [pytest.mark.integration]

INF = object()  # stands for float("inf"): REST sends it as the JSON number 1e400, which parses to inf


# --- a hostile graph: REST's dag, slaflow.submit_spec, slaflow.submit --------------------------


def _spec(value) -> dict:
    """The spec of ``t.inc(value)``: the same graph, written as a document."""
    ((nid, node),) = build_graph(t.inc(value)).items()
    return {"nodes": [{"id": nid, "function": node.function, "args": [value]}]}


def via_rest(value) -> tuple[str, str]:
    body = json.dumps({"dag": _spec("INF" if value is INF else value)}).replace('"INF"', "1e400")
    resp = client_for("entry-alice").post("/api/runs/", body, content_type="application/json")
    assert resp.status_code == 400, resp.content
    ((field, messages),) = resp.json().items()
    return field, messages[0]


def via_submit_spec(value) -> tuple[str, str]:
    from slaflow import submit_spec

    with pytest.raises(SubmissionError) as refused:
        submit_spec(_spec(float("inf") if value is INF else value))
    return refused.value.field, str(refused.value)


def via_submit(value) -> tuple[str, str]:
    from slaflow import submit

    with pytest.raises(SubmissionError) as refused:
        submit(t.inc(float("inf") if value is INF else value))
    return refused.value.field, str(refused.value)


def _deep(levels: int = 70):
    value = 0
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value, message",
    [
        ("a\x00b", "node 'inc-0' args[0] contains a NUL character"),
        ("a\ud800b", "node 'inc-0' args[0] is not valid Unicode: it holds a lone surrogate (U+D800)"),
        (INF, "node 'inc-0' args[0] holds inf, which JSON cannot carry"),
        (_deep(), "node 'inc-0' args[0]" + "[0]" * 65 + " nests values more than 64 levels deep"),
    ],
    ids=["nul", "surrogate", "inf", "deep"],
)
def test_a_hostile_graph_is_refused_alike_by_rest_submit_spec_and_submit(db, redis_server, value, message):
    before = stored_counts()
    refusals = {way.__name__: way(value) for way in (via_rest, via_submit_spec, via_submit)}
    assert refusals == {name: ("dag", message) for name in refusals}
    assert stored_counts() == before


def test_an_over_size_graph_is_refused_alike_by_rest_submit_spec_and_submit(db, redis_server, settings):
    settings.SLAFLOW_MAX_SPEC_BYTES = 4096
    value = "x" * 5000
    size = len(json.dumps(_spec(value), separators=(",", ":")))
    before = stored_counts()
    refusals = {way.__name__: way(value) for way in (via_rest, via_submit_spec, via_submit)}
    assert refusals == {
        name: ("dag", f"the graph spec is {size} bytes, over SLAFLOW_MAX_SPEC_BYTES=4096") for name in refusals
    }
    assert stored_counts() == before


def test_a_spec_over_the_task_limit_is_refused_alike_by_rest_and_submit_spec(db, redis_server, settings):
    settings.SLAFLOW_API_MAX_TASKS = 3
    spec = {"nodes": [{"id": f"n{i}", "function": "tests.taskfns.inc", "args": [i]} for i in range(4)]}
    before = stored_counts()
    resp = client_for("entry-alice").post("/api/runs/", {"dag": spec}, format="json")
    assert resp.status_code == 400 and resp.json() == {"dag": ["the graph has 4 tasks, more than the limit of 3"]}
    from slaflow import submit_spec

    with pytest.raises(SubmissionError, match=r"^the graph has 4 tasks, more than the limit of 3$"):
        submit_spec(spec)
    assert stored_counts() == before


# --- hostile library parameters: REST, the CLI, the web launch form, the runner ----------------


def lib_rest(params: dict) -> str:
    resp = client_for("entry-alice").post("/api/runs/", {"workflow": "fixed_times", "params": params}, format="json")
    assert resp.status_code == 400, resp.content
    assert list(resp.json()) == ["params"]
    return resp.json()["params"][0]


def lib_cli(params: dict) -> str:
    with pytest.raises(CommandError) as refused:
        call_command("run_workflow", "fixed_times", "--param", *[f"{k}={v}" for k, v in params.items()])
    return str(refused.value)


def lib_web(params: dict) -> str:
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get_or_create(username="entry-erin")[0])
    resp = client.post(
        "/launch/",
        {
            "workflow": "fixed_times",
            "planner": "wukong",
            "sla": "p90",
            "params": " ".join(f"{k}={v}" for k, v in params.items()),
        },
    )
    assert resp.status_code == 200  # the form again, with its errors
    errors = resp.context["form"].errors
    assert list(errors) == ["params"]
    return errors["params"][0]


def lib_runner(params: dict) -> str:
    from experiments import runner

    with pytest.raises(SubmissionError) as refused:
        runner.submit_library("fixed_times", planner="wukong", sla="p90", params=params)
    assert refused.value.field == "params"
    return str(refused.value)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"seconds": "0.2\x00"}, "params['seconds'] contains a NUL character"),
        ({"seconds": "nan"}, "params['seconds'] holds nan, which JSON cannot carry"),
        ({"chains": "4", "length": "5"}, "the graph has more than 10 tasks (the limit for one submission)"),
    ],
    ids=["nul", "nan", "over-size"],
)
def test_hostile_library_parameters_are_refused_alike_by_rest_cli_web_form_and_runner(
    db, redis_server, settings, params, message
):
    settings.SLAFLOW_API_MAX_TASKS = 10
    before = stored_counts()
    refusals = {way.__name__: way(params) for way in (lib_rest, lib_cli, lib_web, lib_runner)}
    assert refusals == {name: message for name in refusals}
    assert stored_counts() == before
