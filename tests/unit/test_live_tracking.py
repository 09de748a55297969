"""Live tracking's rule (``planning.live``) and the webhook URL check — pure, no services."""

from __future__ import annotations

import pytest

from orchestrator.planning import live
from orchestrator.services.webhooks import WebhookError, check_url

CHAIN = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}


def test_planned_ends_are_scaled_to_the_typical_makespan_and_unplanned_tasks_are_left_out():
    ends = live.planned_ends({"a": {"e": 2.0}, "b": {"e": 4.0}, "c": {"e": None}, "d": {"m": 512}}, typical_s=3.0)
    assert ends == {"a": 1.5, "b": 3.0}


def test_a_run_on_time_predicts_its_plan():
    for done, elapsed in (([], 0.5), (["a"], 1.5), (["a", "b", "c"], 3.9)):
        assert live.predict(CHAIN, typical_s=4.0, done=done, elapsed_s=elapsed).predicted_makespan_s == 4.0


def test_a_stall_is_predicted_late_while_nothing_finishes():
    """Nothing finished after 0.5 s: a (due at 1 s) is not late yet; at 2 s it is 1 s late. Below
    ``min_progress`` of the plan only the delay carries over, above it the pace multiplies the rest; either
    way the prediction grows with the wait."""
    p = [
        live.predict(CHAIN, typical_s=4.0, done=[], elapsed_s=t, min_progress=0.5).predicted_makespan_s
        for t in (0.5, 2.0, 3.0)
    ]
    assert p == [4.0, 5.0, 6.0]
    p = [
        live.predict(CHAIN, typical_s=4.0, done=[], elapsed_s=t, min_progress=0.25).predicted_makespan_s
        for t in (0.5, 2.0, 3.0)
    ]
    assert p == [4.0, 8.0, 12.0]


def test_past_a_quarter_of_the_plan_the_rest_goes_at_the_observed_pace():
    p = live.predict(CHAIN, typical_s=4.0, done=["a", "b"], elapsed_s=6.0)  # c due at 3 s, 6 s in: pace 2
    assert (p.next_s, p.pace, p.predicted_makespan_s) == (3.0, 2.0, 8.0)
    assert live.verdict(p, promise_s=5.0) == live.MISSED  # the deadline passed
    early = live.predict(CHAIN, typical_s=4.0, done=["a", "b"], elapsed_s=3.6)
    assert early.predicted_makespan_s == pytest.approx(3.6 + 1.0 * 1.2)
    assert live.verdict(early, promise_s=4.5) == live.AT_RISK  # 4.8 > 4.5 × 1.05, before the deadline
    assert live.verdict(early, promise_s=4.7) is None  # within the margin


def test_a_finished_run_predicts_what_it_took_and_mapped_elements_count_for_their_node():
    assert live.predict(CHAIN, typical_s=4.0, done=list(CHAIN), elapsed_s=4.4).predicted_makespan_s == 4.4
    mapped = {"split": 1.0, "m": 2.0, "sink": 3.0}
    p = live.predict(mapped, typical_s=3.0, done=["split", "m[0]"], elapsed_s=2.5)
    assert p.next_s == 3.0 and p.predicted_makespan_s == 3.0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "hooks.example.org/x",
        "",
        None,
        42,
        "http://x/" + "a" * 600,
    ],
)
def test_only_http_urls_with_a_host_are_webhooks(url):
    with pytest.raises(WebhookError, match="webhook_url"):
        check_url(url)


def test_http_and_https_webhooks_are_accepted():
    assert check_url(" https://hooks.example.org/sla?x=1 ") == "https://hooks.example.org/sla?x=1"
    assert check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"
