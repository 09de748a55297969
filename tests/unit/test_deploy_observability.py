"""The Grafana dashboard has the structure Grafana loads; the compose Prometheus scrapes /metrics with the
token. (Each query's series are checked against a real scrape in tests/integration/test_observability.py.)"""

import json
from pathlib import Path

import yaml
from django.conf import settings
from django.urls import resolve

BASE = Path(settings.BASE_DIR)
DASHBOARD = BASE / "deploy" / "grafana" / "slaflow.json"
PROMETHEUS = BASE / "deploy" / "prometheus" / "prometheus.yml"
PANEL_TYPES = {"timeseries", "stat", "table", "gauge", "bargauge", "heatmap", "text"}


def test_the_dashboard_has_what_grafana_requires():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 30
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and len(ids) >= 8
    occupied = set()
    for panel in dash["panels"]:
        assert panel["type"] in PANEL_TYPES and panel["title"]
        pos = panel["gridPos"]
        assert set(pos) == {"h", "w", "x", "y"} and 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        assert panel["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")") and "slaflow_" in target["expr"]
    # the series the issue asks a dashboard for
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    for name in (
        "slaflow_runs",
        "slaflow_sla_attainment_ratio",
        "slaflow_promise_error_ratio",
        "slaflow_queue_messages",
        "slaflow_pool_processes",
        "slaflow_task_duration_seconds_bucket",
        "slaflow_startups",
        "slaflow_data_moved_bytes",
        "slaflow_optimization_events",
    ):
        assert name in exprs, name


def test_compose_runs_prometheus_scraping_the_web_metrics_with_the_token():
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    job = jobs["slaflow"]
    assert job["metrics_path"] == "/metrics" and resolve(job["metrics_path"]).url_name == "metrics"
    assert job["static_configs"][0]["targets"] == ["web:8000"]
    assert job["authorization"]["type"] == "Bearer"
    compose = yaml.safe_load((BASE / "docker-compose.yml").read_text())
    services = compose["services"]
    prom = services["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    token_file = job["authorization"]["credentials_file"]
    assert token_file in " ".join(prom["command"]) and "SLAFLOW_METRICS_TOKEN" in " ".join(prom["command"])
    assert ":?" in prom["environment"]["SLAFLOW_METRICS_TOKEN"]
    assert ":?" in services["web"]["environment"]["SLAFLOW_METRICS_TOKEN"]  # production: no anonymous scrape
    web_port = services["web"]["ports"][0].split(":")[-1]
    assert job["static_configs"][0]["targets"][0].split(":")[1] == web_port
