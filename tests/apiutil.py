"""Helpers for REST API tests: users with tokens, polling runs through the API."""

from __future__ import annotations

from rest_framework.test import APIClient

from orchestrator.services.accounts import issue_token
from tests.waiting import until


def client_for(username: str, *, staff: bool = False) -> APIClient:
    """An API client authenticated with ``username``'s token (user created if needed)."""
    issued = issue_token(username=username, create_user=True, staff=staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    client.token = issued.key
    return client


def wait_for_status(
    client: APIClient, run_id: int, statuses=("succeeded", "failed", "cancelled"), timeout_s: float = 120.0
) -> dict:
    def finished() -> dict | None:
        resp = client.get(f"/api/runs/{run_id}/")
        assert resp.status_code == 200, resp.content
        return resp.json() if resp.json()["status"] in statuses else None

    return until(finished, timeout_s=timeout_s, every_s=0.2, what=f"run {run_id} to be {' or '.join(statuses)}")


def stored_counts() -> tuple[int, int, int]:
    from orchestrator.models import TaskRun, Workflow, WorkflowRun

    return Workflow.objects.count(), WorkflowRun.objects.count(), TaskRun.objects.count()
