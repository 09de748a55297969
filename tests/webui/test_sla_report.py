"""sla_report over stored runs (real database rows): shares within the promise and residuals."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.webui import factories as f

pytestmark = pytest.mark.django_db


def report(*args) -> list[dict]:
    out = io.StringIO()
    call_command("sla_report", "synthetic-diamond", "--json", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_residuals_per_run_and_as_the_newest_plan_replayed_them():
    for makespan in (1.68, 2.3, 1.9):  # typical 1.68 s each (promise 2.1 / 1.25)
        f.make_run(makespan=makespan)
    (row,) = report()
    assert row["runs"] == 3 and row["within_promise"] == 2
    assert row["residuals"]["n"] == 3 and row["residuals"]["median"] == pytest.approx(1.9 / 1.68, abs=1e-3)
    assert row["replayed_residuals"] == {"n": 5, "median": 1.05, "p10": 0.9, "p90": 1.2}
    assert row["cores"] == 2.0
    assert row["median_overshoot"] == pytest.approx(2.1 / 1.9 - 1)
    (first,) = report("--first", "2")
    assert first["runs"] == 2 and first["run_ids"][1] < row["run_ids"][1]
    out = io.StringIO()
    call_command("sla_report", "synthetic-diamond", stdout=out)
    assert "residual observed ÷ typical: median 1.131" in out.getvalue()
    assert "simulated on 2 cores" in out.getvalue()


def test_first_and_last_exclude_each_other():
    with pytest.raises(CommandError, match="exclude each other"):
        call_command("sla_report", "synthetic-diamond", "--first", "2", "--last", "2")
    with pytest.raises(CommandError, match="--first must be 0 or more"):
        call_command("sla_report", "synthetic-diamond", "--first", "-1")
