"""The OpenAPI schema, Swagger UI (served locally), the browsable API, and Schemathesis against a live server."""

import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from rest_framework.test import APIClient

from orchestrator.models import WorkflowRun
from orchestrator.services import runs as run_services
from tests.apiutil import client_for

pytestmark = [pytest.mark.integration]


def test_schema_is_valid_openapi_and_names_every_operation(db):
    resp = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema["openapi"].startswith("3.")
    ops = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "runs_list",
        "runs_create",
        "runs_retrieve",
        "runs_plan",
        "runs_tasks",
        "runs_result",
        "runs_cancel",
        "plans_preview",
        "workflows_list",
        "auth_token",
    } <= ops
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"
    # The spec lives in the schema: fuzzers and clients see the node shape and the SLA pattern.
    create = schema["components"]["schemas"]["RunCreateInputRequest"]["properties"]
    assert create["dag"]["properties"]["nodes"]["items"]["required"] == ["id", "function"]
    assert create["sla"]["pattern"].startswith("^(average|p")


def test_swagger_ui_is_served_without_any_cdn(live_server, db):
    html = urllib.request.urlopen(live_server.url + "/api/docs/", timeout=30).read().decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", html), "the docs page must not load from the internet"
    for asset in assets:
        with urllib.request.urlopen(live_server.url + asset, timeout=30) as resp:  # served from local static files
            assert resp.status == 200 and len(resp.read()) > 100


def test_browsable_api_works_with_a_session(db, redis_server, django_user_model):
    django_user_model.objects.create_user("browser", password="pw-browser-1")
    browser = APIClient()
    assert browser.login(username="browser", password="pw-browser-1")
    page = browser.get("/api/runs/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and "text/html" in page["Content-Type"]
    assert "Runs" in page.content.decode() and "/api/session/logout/" in page.content.decode()
    assert browser.get("/api/session/login/").status_code == 200
    # A session POST without its CSRF token is refused (tokens are how scripts post).
    csrf = APIClient(enforce_csrf_checks=True)
    csrf.login(username="browser", password="pw-browser-1")
    assert csrf.post("/api/runs/", {"workflow": "diamond"}, format="json").status_code == 403


def test_unknown_api_paths_are_json_404(db):
    for method in ("get", "post"):
        resp = getattr(APIClient(), method)("/api/runs/not-a-number/cancel/")
        assert resp.status_code == 404 and resp["Content-Type"] == "application/json"


def test_schemathesis_finds_no_failures(live, live_server, settings, tmp_path):
    """Fuzz every operation against the project's own schema with real workers behind the server.

    Checks: all of Schemathesis' checks except ``positive_data_acceptance``,
    which expects every schema-valid body to succeed — impossible for input
    the schema cannot fully describe (workflow names, function paths, cycles,
    passwords); those cases must get a 400, which the other checks verify.
    """
    settings.SLAFLOW_API_SUBMIT_RATE = "100000/minute"  # let the fuzzer reach the logic behind the throttle
    settings.SLAFLOW_LOGIN_RATE = "100000/minute"
    settings.SLAFLOW_API_MAX_TASKS = 300  # keep fuzzed library runs small
    # The fuzzer's user is an ordinary one (non-staff): its quotas are raised like the throttles, so that the
    # submissions reach the logic behind them (tests/integration/test_quotas.py meets the quotas themselves).
    settings.SLAFLOW_QUOTA_CONCURRENT_RUNS = settings.SLAFLOW_QUOTA_RUNS_PER_HOUR = 100_000
    token = client_for("fuzzer").token
    # A campaign of the fuzzer's, stored (not launched): the experiments_list → experiments_detail link finds it.
    from django.contrib.auth import get_user_model

    from experiments.campaigns import design, execute

    execute.create(
        design.parse(workflows=["diamond"], planners=["wukong"], slas=["p90"], iterations=1, warmup=0, seed=0),
        out_dir=tmp_path / "campaign",
        owner=get_user_model().objects.get(username="fuzzer"),
    )
    max_examples = os.environ.get("SLAFLOW_SCHEMATHESIS_MAX_EXAMPLES", "10")
    seed = os.environ.get("SLAFLOW_SCHEMATHESIS_SEED", "1")
    # The coverage phase (boundary values of every field) is most of the time; it found real bugs, so it stays.
    # Two workers (operations fuzzed two at a time, same checks, phases, limits and seed): 43 s, not 70 s.
    phases = os.environ.get("SLAFLOW_SCHEMATHESIS_PHASES", "examples,coverage,fuzzing,stateful")
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{live_server.url}/api/schema/",
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--phases",
        phases,
        "--max-examples",
        max_examples,
        "--seed",
        seed,
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-junit-path",
        str(tmp_path / "schemathesis.xml"),
    ]
    started = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    summary = proc.stdout[proc.stdout.rfind("SUMMARY") :] if "SUMMARY" in proc.stdout else proc.stdout[-3000:]
    print(f"schemathesis finished in {time.monotonic() - started:.1f} s\n{summary}")
    try:
        assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-5000:]
        assert re.search(r"\d+ generated, \d+ passed", proc.stdout), proc.stdout[-3000:]
        assert "5xx" not in summary and "Server error" not in proc.stdout
    finally:
        # Fuzzed submissions are real runs: stop what is still going so later tests get idle workers.
        for run_id in WorkflowRun.objects.filter(
            owner__username="fuzzer", status__in=["pending", "planning", "running"]
        ).values_list("pk", flat=True):
            run_services.cancel_run(run_id)
