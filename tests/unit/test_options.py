"""Task options: checked at decoration and submission, read back the same on workers."""

import pytest

from orchestrator.core import options
from orchestrator.core.authoring import build_graph, task
from orchestrator.core.options import OptionError, TaskOptions


@task(timeout_s=2, retries=2, retry_backoff_s=0.5, retry_on=(ConnectionError, "requests.exceptions.Timeout"))
def fetch(x):
    return x


def test_decorator_options_travel_on_the_node():
    graph = build_graph(fetch(1))
    opts = graph["fetch-0"].options_dict
    assert opts == {
        "timeout_s": 2.0,
        "retries": 2,
        "retry_backoff_s": 0.5,
        "retry_on": ["ConnectionError", "requests.exceptions.Timeout"],
    }
    # The same function with other options (a new TaskFunction, same importable path).
    other = build_graph(fetch.with_options(retries=0)(1))["fetch-0"]
    assert other.function == graph["fetch-0"].function and other.options_dict["retries"] == 0


@pytest.mark.parametrize(
    "given, message",
    [
        ({"timeout_s": 0}, "'timeout_s' must be a number > 0"),
        ({"timeout_s": float("inf")}, "'timeout_s' must be a number > 0"),
        ({"retries": 1.5}, "'retries' must be a whole number"),
        ({"retries": True}, "'retries' must be a whole number"),
        ({"retry_backoff_s": -1}, "'retry_backoff_s' must be a number ≥ 0"),
        ({"retry_on": [3]}, "'retry_on' holds 3"),
        ({"timeout": 3}, "unknown option(s) 'timeout'"),
    ],
)
def test_bad_options_are_refused_naming_the_node_and_option(given, message):
    with pytest.raises(OptionError) as err:
        options.check(given, "node 'a'")
    assert message in str(err.value) and str(err.value).startswith("node 'a'")


def test_what_is_retried_and_how_long_the_worker_waits():
    o = TaskOptions.of({"retries": 3, "retry_backoff_s": 0.5, "retry_on": ["ConnectionError"]})
    assert o.retries_on(ConnectionRefusedError("x"))  # a subclass counts
    assert not o.retries_on(ValueError("x"))
    assert TaskOptions.of({"retries": 1}).retries_on(ValueError("anything"))
    assert [o.backoff(k) for k in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert TaskOptions.of({}, default_timeout_s=5).timeout_s == 5  # the run's default
    assert TaskOptions.of({"timeout_s": 1}, default_timeout_s=5).timeout_s == 1  # the task's own wins
