"""Planning history is scoped to the run's owner (issue 23, row 15): one user's slow runs of a workflow shape
do not move another user's promise for that shape — through the REST API, on real workers."""

import pytest

from tests.apiutil import client_for, wait_for_status

pytestmark = [pytest.mark.integration]

SHAPE = {"chains": 1, "length": 2}  # fixed_times: two 'seconds' steps in a chain, 4 tasks
SLOW_S = 1.5  # each of the attacker's steps: a 3 s chain


def _run(api, seconds: float) -> None:
    resp = api.post(
        "/api/runs/",
        {"workflow": "fixed_times", "params": {**SHAPE, "seconds": seconds}, "planner": "uniform", "sla": "p90"},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    assert wait_for_status(api, resp.json()["id"])["status"] == "succeeded"


def _promise(api, seconds: float) -> float:
    resp = api.post(
        "/api/plans/preview/",
        {"workflow": "fixed_times", "params": {**SHAPE, "seconds": seconds}, "planners": ["uniform"], "slas": ["p90"]},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    (plan,) = resp.json()["plans"]
    assert not plan["fallback"], plan  # planned from history
    return plan["predicted_makespan_s"]


def test_one_users_slow_runs_do_not_move_another_users_promise(live, settings):
    settings.SLAFLOW_API_SUBMIT_RATE = ""
    bob, mallory = client_for("history-bob"), client_for("history-mallory")
    for _ in range(3):
        _run(bob, 0.05)
    # Bob asks about inputs nobody ran yet: every run of the shape in his scope informs the plan.
    before = _promise(bob, 0.06)
    assert before < 1.0
    for _ in range(3):
        _run(mallory, SLOW_S)  # the same shape, deliberately slow
    assert _promise(mallory, 0.06) > SLOW_S  # her runs do inform her own promises
    assert _promise(bob, 0.06) < 1.0  # but not Bob's

    settings.SLAFLOW_HISTORY_SCOPE = "shared"  # what every plan saw before issue 23
    assert _promise(bob, 0.06) > SLOW_S
