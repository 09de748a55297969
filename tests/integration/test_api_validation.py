"""REST API input handling: 401 without a token, 400 with field errors, 413, nothing stored on rejection.

These requests never reach a worker (every one is refused before anything is
stored), so they need the database and Redis (throttle counters) only.
"""

import json

import pytest
from rest_framework.test import APIClient

from orchestrator import planning
from tests.apiutil import client_for, stored_counts

pytestmark = [pytest.mark.integration]

INC = "tests.taskfns.inc"


@pytest.fixture
def api(db, redis_server):
    return client_for("val-alice")


def test_no_token_is_401_everywhere(db, redis_server):
    anon = APIClient()
    for method, path in [
        ("get", "/api/runs/"),
        ("post", "/api/runs/"),
        ("get", "/api/runs/1/"),
        ("get", "/api/runs/1/plan/"),
        ("get", "/api/runs/1/tasks/"),
        ("get", "/api/runs/1/result/"),
        ("post", "/api/runs/1/cancel/"),
        ("get", "/api/workflows/"),
        ("post", "/api/plans/preview/"),
    ]:
        resp = getattr(anon, method)(path, {}, format="json")
        assert resp.status_code == 401, (method, path, resp.status_code)
        assert resp["WWW-Authenticate"] == "Token"
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert bad.get("/api/runs/").status_code == 401
    # The front page, schema and docs are public.
    assert anon.get("/api/").status_code == 200
    assert anon.get("/api/schema/").status_code == 200


def _post(api, body):
    return api.post("/api/runs/", body, format="json")


def test_cycle_is_400_naming_the_cycle_and_stores_nothing(api):
    before = stored_counts()
    resp = _post(
        api,
        {
            "dag": {
                "nodes": [
                    {"id": "a", "function": INC, "args": [{"ref": "c"}]},
                    {"id": "b", "function": INC, "args": [{"ref": "a"}]},
                    {"id": "c", "function": INC, "args": [{"ref": "b"}]},
                    {"id": "d", "function": INC, "args": [{"ref": "c"}]},
                ]
            }
        },
    )
    assert resp.status_code == 400
    message = resp.json()["dag"][0]
    assert "cycle" in message and (
        "a -> b -> c -> a" in message or "c -> a -> b -> c" in message or "b -> c -> a -> b" in message
    )
    assert stored_counts() == before


@pytest.mark.parametrize(
    "function, needle",
    [
        ("os.system", "module 'os' is not a registered workflow module"),
        ("builtins.eval", "module 'builtins' is not a registered workflow module"),
        ("orchestrator.services.runs.cancel_run", "module 'orchestrator.services.runs' is not a registered workflow"),
        # built-ins are allowed by exact name, not every function of their modules
        ("orchestrator.executables.check_argv", "module 'orchestrator.executables' is not a registered workflow"),
        ("orchestrator.core.sinks.joined", "module 'orchestrator.core.sinks' is not a registered workflow module"),
        # the library's package is no task module: only its workflows' modules are
        ("slaflow.workflows.register", "module 'slaflow.workflows' is not a registered workflow module"),
        # A path inside a workflow module that re-exports code from elsewhere.
        ("slaflow.workflows.tree_reduction.task", "defined in 'orchestrator.core.authoring'"),
        ("tests.taskfns.no_such_function", "has no attribute 'no_such_function'"),
        ("tests.taskfns.nested.f", "module 'tests.taskfns.nested' is not a registered workflow module"),
    ],
)
def test_disallowed_or_unknown_function_is_400(api, function, needle):
    before = stored_counts()
    resp = _post(api, {"dag": {"nodes": [{"id": "a", "function": function, "args": ["echo pwned"]}]}})
    assert resp.status_code == 400, resp.content
    assert needle in resp.json()["dag"][0]
    assert stored_counts() == before


@pytest.mark.parametrize(
    "body, field, needle",
    [
        ({"workflow": "no_such_workflow"}, "workflow", "unknown workflow 'no_such_workflow'"),
        ({"workflow": "tree_reduction", "planner": "nope"}, "planner", "unknown planner"),
        ({"workflow": "tree_reduction", "sla": "p100"}, "sla", "percentile"),
        ({"workflow": "tree_reduction", "sla": "fast"}, "sla", "percentile"),
        ({"workflow": "tree_reduction", "params": {"n": 3}}, "params", "power of two"),
        ({"workflow": "tree_reduction", "params": {"n": "many"}}, "params", "must be int"),
        ({"workflow": "tree_reduction", "params": {"m": 4}}, "params", "no parameter 'm'"),
        ({"workflow": "tree_reduction", "params": {"n": 2**40}}, "params", "more than"),
        ({"workflow": "tree_reduction", "params": {"n": 1e300}}, "params", ""),
        ({"workflow": "tree_reduction", "params": "n=4"}, "params", ""),
        ({"workflow": "tree_reduction", "name": "x"}, "name", "applies to a dag"),
        ({"dag": {"nodes": []}}, "dag", "non-empty 'nodes'"),
        ({"dag": {"nodes": [{"id": "a", "function": INC, "args": [1], "colour": "red"}]}}, "dag", "colour"),
        ({"dag": {"nodes": [{"id": "a", "function": INC, "args": [{"ref": "ghost"}]}]}}, "dag", "ghost"),
        (
            {"dag": {"nodes": [{"id": "a", "function": INC, "args": [1]}, {"id": "a", "function": INC, "args": [2]}]}},
            "dag",
            "appears twice",
        ),
        ({"dag": {"nodes": [{"id": "a b", "function": INC, "args": [1]}]}}, "dag", "must be 1-200 letters"),
        ({"dag": {"nodes": [{"id": "a", "function": INC, "args": ["nul\u0000byte"]}]}}, "dag", "NUL"),
        ({"dag": "nodes"}, "dag", "must be a JSON object"),
        ({"dag": {"nodes": [{"id": "a", "function": INC, "args": [1]}]}, "name": "x" * 201}, "name", ""),
        ({"dag": {"name": 5, "nodes": [{"id": "a", "function": INC, "args": [1]}]}}, "name", "non-empty text"),
        ({"dag": {"nodes": [{"id": "a", "function": INC, "args": [1]}]}, "params": {"n": 1}}, "params", ""),
        ({}, "non_field_errors", "either 'workflow'"),
        ({"workflow": "tree_reduction", "dag": {"nodes": []}}, "non_field_errors", "either 'workflow'"),
    ],
)
def test_bad_submission_is_400_on_its_field_and_stores_nothing(api, body, field, needle):
    before = stored_counts()
    resp = _post(api, body)
    assert resp.status_code == 400, (resp.status_code, resp.content)
    errors = resp.json()
    assert field in errors, errors
    assert needle in " ".join(map(str, errors[field]))
    assert stored_counts() == before


@pytest.mark.parametrize("path", ["/api/runs/", "/api/plans/preview/"])
@pytest.mark.parametrize(
    "dag",
    [
        '{"nodes": [{"id": "a", "function": "%s", "args": ["\\ud800"]}]}' % INC,
        '{"name": "x\\udfff", "nodes": [{"id": "a", "function": "%s", "args": [1]}]}' % INC,
        '{"nodes": [{"id": "a", "function": "%s", "kwargs": {"x": {"\\ud800": 1}}}]}' % INC,
        '{"nodes": [{"id": "a", "command": ["grep", "\\ud800"]}]}',
        '{"nodes": [{"id": "a", "command": ["cat"], "stdin": "\\ud800"}]}',
    ],
)
def test_lone_surrogates_are_400_naming_the_dag_and_store_nothing(api, path, dag):
    """JSON's \\ud800 escape parses into text no database or response can encode: it was a 500 (a DataError,
    and in local mode a debug page that failed to render the same character)."""
    before = stored_counts()
    resp = api.post(path, data='{"dag": %s}' % dag, content_type="application/json")
    assert resp.status_code == 400, (resp.status_code, resp.content[:300])
    assert "not valid Unicode" in " ".join(resp.json()["dag"]), resp.json()
    assert stored_counts() == before


def test_unparseable_and_deeply_nested_json_are_400(api):
    for raw in [b"{not json", b"[" * 100_000 + b"]" * 100_000, b'{"workflow": "tree_reduction", "sla": NaN}']:
        resp = api.generic("POST", "/api/runs/", raw, content_type="application/json")
        assert resp.status_code == 400, (raw[:20], resp.status_code)
        assert "JSON parse error" in resp.json()["detail"]
    # Parseable, but deeper than any encoder downstream should be asked to recurse.
    raw = (
        '{"dag": {"nodes": [{"id": "a", "function": "%s", "args": [%s1%s]}]}}' % (INC, "[" * 200, "]" * 200)
    ).encode()
    resp = api.generic("POST", "/api/runs/", raw, content_type="application/json")
    assert resp.status_code == 400 and "levels deep" in resp.json()["dag"][0]


def test_non_json_body_is_415(api):
    resp = api.generic(
        "POST", "/api/runs/", b"workflow=tree_reduction", content_type="application/x-www-form-urlencoded"
    )
    assert resp.status_code == 415


def test_oversize_body_is_413_and_stores_nothing(api, settings):
    settings.SLAFLOW_API_MAX_BODY_BYTES = 10_000
    before = stored_counts()
    nodes = [{"id": f"n{i}", "function": INC, "args": [i]} for i in range(400)]
    raw = json.dumps({"dag": {"nodes": nodes}}).encode()
    assert len(raw) > 10_000
    resp = api.generic("POST", "/api/runs/", raw, content_type="application/json")
    assert resp.status_code == 413
    assert "over the limit of 10000 bytes" in resp.json()["detail"]
    assert stored_counts() == before
    # Under the limit the same endpoint answers normally (here: 400 for an unknown field, not 413).
    small = json.dumps({"dag": {"nodes": [dict(nodes[0], colour="red")]}}).encode()
    assert api.generic("POST", "/api/runs/", small, content_type="application/json").status_code == 400


def test_too_many_tasks_in_a_spec_is_400(api, settings):
    settings.SLAFLOW_API_MAX_TASKS = 50
    nodes = [{"id": f"n{i}", "function": INC, "args": [i]} for i in range(51)]
    resp = _post(api, {"dag": {"nodes": nodes}})
    assert resp.status_code == 400 and "more than the limit of 50" in resp.json()["dag"][0]


def test_run_ids_that_do_not_exist_are_404_even_when_huge(api):
    for run_id in [999_999, 2**63 - 1, 2**63, 10**30]:
        for suffix in ["", "plan/", "tasks/", "result/"]:
            assert api.get(f"/api/runs/{run_id}/{suffix}").status_code == 404
        assert api.post(f"/api/runs/{run_id}/cancel/").status_code == 404


def test_list_filters_are_validated(api):
    assert api.get("/api/runs/", {"status": "exploded"}).status_code == 400
    assert api.get("/api/runs/", {"workflow": "a\u0000b"}).status_code == 400
    assert api.get("/api/runs/", {"page": "0"}).status_code == 404
    assert api.get("/api/runs/", {"page": ""}).status_code == 400  # not read as page 1
    assert api.get("/api/runs/", {"page": "two"}).status_code == 400
    ok = api.get("/api/runs/", {"status": "succeeded", "planner": "wukong", "sla": "p90"})
    assert ok.status_code == 200 and ok.json()["results"] == []


def test_plan_preview_all_planners_and_slas(api):
    before = stored_counts()
    resp = api.post(
        "/api/plans/preview/",
        {"workflow": "tree_reduction", "params": {"n": 32}, "slas": ["p50", "p90", "average"]},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    out = resp.json()
    assert out["task_count"] == 31 and out["params"] == {"n": 32}
    pairs = {(p["planner"], p["sla"]) for p in out["plans"]}
    assert pairs == {(planner, sla) for planner in planning.names() for sla in ("p50", "p90", "average")}
    for plan in out["plans"]:
        assert plan["memory_mb"] and plan["critical_path"] in ([], plan["critical_path"][:-1] + ["add-30"])
    assert stored_counts() == before  # a preview stores nothing

    dag = {"nodes": [{"id": "a", "function": INC, "args": [1]}, {"id": "b", "function": INC, "args": [{"ref": "a"}]}]}
    resp = api.post("/api/plans/preview/", {"dag": dag, "planners": ["wukong"]}, format="json")
    assert resp.status_code == 200 and [p["sla"] for p in resp.json()["plans"]] == ["p90"]

    bad = api.post("/api/plans/preview/", {"workflow": "tree_reduction", "planners": ["nope"]}, format="json")
    assert bad.status_code == 400 and "planners" in bad.json()
    bad = api.post("/api/plans/preview/", {"dag": {"nodes": [{"id": "a", "function": "os.getcwd"}]}}, format="json")
    assert bad.status_code == 400 and "module 'os' is not a registered workflow" in bad.json()["dag"][0]


def test_workflow_catalog_lists_the_library(api):
    resp = api.get("/api/workflows/")
    assert resp.status_code == 200
    entries = {e["name"]: e for e in resp.json()["results"]}
    tree = entries["tree_reduction"]
    assert tree["source"] == "library" and tree["task_count"] == 63 and tree["parameters"] == {"n": 64}
    assert len(tree["structure_hash"]) >= 16 and tree["run_count"] == 0


def test_token_endpoint_exchanges_a_password(db, redis_server, django_user_model):
    django_user_model.objects.create_user("carol", password="s3cret-pass")
    anon = APIClient()
    resp = anon.post("/api/auth/token/", {"username": "carol", "password": "s3cret-pass"}, format="json")
    assert resp.status_code == 200 and resp.json()["username"] == "carol"
    token = resp.json()["token"]
    again = anon.post("/api/auth/token/", {"username": "carol", "password": "s3cret-pass"}, format="json")
    assert again.json()["token"] == token  # one token per user
    wrong = anon.post("/api/auth/token/", {"username": "carol", "password": "nope"}, format="json")
    assert wrong.status_code == 400 and "credentials" in wrong.json()["non_field_errors"][0]
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon.get("/api/runs/").status_code == 200


def test_issue_token_command(db, capsys):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no user 'dave'"):
        call_command("issue_token", "dave")
    call_command("issue_token", "dave", "--create-user")
    first = capsys.readouterr().out.strip()
    assert len(first) == 40
    call_command("issue_token", "dave")
    assert capsys.readouterr().out.strip() == first
    call_command("issue_token", "dave", "--rotate", "--staff")
    rotated = capsys.readouterr().out.strip()
    assert rotated != first
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="dave").is_staff
