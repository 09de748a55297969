"""Opt-in smoke test against real AWS: ``SLAFLOW_AWS_SMOKE=1`` with credentials (boto3's usual chain),
``SLAFLOW_LAMBDA_ROLE_ARN`` (a role Lambda can assume, see docs/howto/lambda.md) and network access to
PyPI for the package. Deselected otherwise (tests/conftest.py); when selected, a missing credential or
role fails it. It deploys a function of the real package under a throwaway prefix, invokes it
synchronously with a pre-warm ping (the handler imports slaflow, Django and the task code and returns),
and deletes it. A whole run on AWS also needs Redis and Postgres reachable from the function's VPC;
that is the operator's setup (docs/howto/lambda.md), not this test's."""

from __future__ import annotations

import io
import json
import uuid

import boto3
import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.aws_smoke, pytest.mark.timeout(1800)]


def test_deploy_and_invoke_on_aws(settings):
    assert boto3.session.Session().get_credentials() is not None, "SLAFLOW_AWS_SMOKE=1 needs AWS credentials"
    assert settings.SLAFLOW_LAMBDA_ROLE_ARN, "SLAFLOW_AWS_SMOKE=1 needs SLAFLOW_LAMBDA_ROLE_ARN"
    settings.SLAFLOW_LAMBDA_ENDPOINT_URL = None
    settings.SLAFLOW_LAMBDA_FUNCTION_PREFIX = f"slaflow-smoke-{uuid.uuid4().hex[:6]}"
    settings.SLAFLOW_LAMBDA_CONFIGS = (settings.SLAFLOW_RESOURCE_CONFIGS[0],)
    name = f"{settings.SLAFLOW_LAMBDA_FUNCTION_PREFIX}-{settings.SLAFLOW_RESOURCE_CONFIGS[0]}"
    lam = boto3.client("lambda", region_name=settings.SLAFLOW_AWS_REGION)
    try:
        out = io.StringIO()
        call_command("deploy", "lambda", "--timeout", "60", stdout=out)
        assert f"create    {name}" in out.getvalue()
        reply = lam.invoke(
            FunctionName=name,
            InvocationType="RequestResponse",
            Payload=json.dumps({"task": "workers.tasks.prewarm", "args": ["smoke"], "kwargs": {}}),
        )
        body = json.loads(reply["Payload"].read())
        assert "FunctionError" not in reply, body
        assert body["kind"] == "prewarm" and body["fresh"] is True
    finally:
        try:
            lam.delete_function(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:
            pass
