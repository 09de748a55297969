"""A campaign's report opens offline in a real browser with every chart drawn; so does its web page."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from orchestrator.models import Experiment
from tests.browser.test_webui_browser import login

pytestmark = [pytest.mark.integration, pytest.mark.browser]

EVERY_FIGURE_DRAWN = """() => {
  const figs = [...document.querySelectorAll('.figure')];
  return figs.length > 0 && figs.every(f => f.querySelector('.main-svg') !== null);
}"""


def test_the_report_and_the_campaign_page_draw_every_chart(live, live_server, page, shot, tmp_path):
    out = tmp_path / "campaign"
    call_command(
        "run_sla_experiments",
        *(
            "--workflows diamond tree_reduction --planners uniform non-uniform --slas p50 p90 "
            "--iterations 2 --warmup 1 --params tree_reduction:n=8 --out"
        ).split(),
        str(out),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    exp = Experiment.objects.get(out_dir=str(out))
    expected = {"success", "prior", "calibration", "errors", "warmcold", "optimizations"} | {
        f"{kind}:{w}" for kind in ("makespan", "gbs", "pareto") for w in ("diamond", "tree_reduction")
    }

    # The report from a file: no server, no network (plotly.js is inside it).
    page.goto((out / "report.html").as_uri())
    page.wait_for_function("() => [...document.querySelectorAll('.figure')].every(f => f.dataset.rendered === '1')")
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('.figure')].map(f => [f.dataset.name, "
        "f.querySelectorAll('.trace, .hm').length])"
    )
    assert {name for name, _ in drawn} == expected
    assert all(traces > 0 for name, traces in drawn if name != "optimizations"), drawn
    calibration = page.evaluate("() => document.getElementById('fig-calibration').data.map(t => t.meta)")
    assert "diagonal" in calibration and "calibration:uniform" in calibration
    shot(page, "20-campaign-report")

    user = get_user_model().objects.create_user("dora", password="dora-pw-123", is_staff=True)
    login(page, live_server.url, "dora", "dora-pw-123")
    page.goto(live_server.url + "/experiments/")
    assert f"/experiments/{exp.pk}/" in page.inner_html("#campaigns")
    page.click(f"#campaigns a[href='/experiments/{exp.pk}/']")
    page.wait_for_function(EVERY_FIGURE_DRAWN)
    names = page.evaluate("() => [...document.querySelectorAll('.figure')].map(f => f.dataset.name)")
    assert set(names) == expected
    assert "finished" in page.inner_text("#campaign-status") and "20 / 20" in page.inner_text("#campaign-progress")
    shot(page, "21-campaign-page")
    assert user.is_staff
