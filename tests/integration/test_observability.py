"""/metrics scraped after real runs on the live cluster, parsed by Prometheus' own text parser; the Grafana
dashboard's queries against that scrape; ``slaflow status`` on the same cluster."""

import io
import json
import re
import statistics
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import prometheus
from orchestrator.handles import RunFailed
from orchestrator.models import WorkflowRun
from orchestrator.services.runs import cancel_run
from slaflow import submit
from tests import taskfns as t
from tests.waiting import until

pytestmark = [pytest.mark.integration]

DASHBOARD = Path(settings.BASE_DIR) / "deploy" / "grafana" / "slaflow.json"


def _scrape(client, **headers) -> dict:
    resp = client.get("/metrics", **headers)
    assert resp.status_code == 200, resp.content[:300]
    assert resp["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(resp.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _value(samples, name, **labels):
    found = [v for lab, v in samples.get(name, []) if all(lab.get(k) == str(x) for k, x in labels.items())]
    assert len(found) == 1, f"{name} {labels}: {found} in {samples.get(name)}"
    return found[0]


def _every_pool_published():
    """Idle workers publish their pools every keep-alive window: wait until each has."""
    from store.pools import read_pools

    until(
        lambda: set(read_pools()) == set(settings.SLAFLOW_RESOURCE_CONFIGS),
        timeout_s=settings.SLAFLOW_KEEPALIVE_S + 30,
        what="every configuration's pool published",
    )


def fan():
    src = t.value(1)
    return t.add(t.slow_inc(src, 0.3), t.slow_inc(src, 0.3))


@pytest.fixture
def fresh_metrics(settings):
    settings.SLAFLOW_METRICS_CACHE_S = 0.0  # every scrape computes (the runs change between them)


def test_metrics_after_real_runs_carry_their_series_and_labels(live, client, fresh_metrics, settings):
    name = "metrics-fan"
    first = submit(fan(), name=name, planner="uniform", sla="p90")
    assert first.result(timeout=90) == 4
    runs = [submit(fan(), name=name, planner="uniform", sla="p90") for _ in range(2)]
    for run in runs:
        assert run.result(timeout=90) == 4
    broken = submit(t.add(t.boom(1), t.inc(1)), name="metrics-boom", planner="wukong", sla="p50")
    with pytest.raises(RunFailed):
        broken.result(timeout=60)
    big = t.blob(t.value(1), 2)  # a 2 MB output: wukong-opt clusters its children beside it
    settings.SLAFLOW_SHM_MIN_BYTES = 0  # planned as where big outputs travel through Redis: the rule chooses it
    clustered = submit(t.gather([t.digest(big, big) for _ in range(2)]), name="metrics-opt", planner="wukong-opt")
    assert len(clustered.result(timeout=60)) == 2
    hung = submit(t.hang(1, seconds=120), name="metrics-hung", planner="wukong", sla="p90")
    until(lambda: WorkflowRun.objects.get(pk=hung.id).status == "running", timeout_s=30, what="the hung run running")
    try:
        _every_pool_published()
        samples = _scrape(client)
    finally:
        cancel_run(hung.id)

    # runs by status, per workflow × planner
    assert _value(samples, "slaflow_runs", workflow=name, planner="uniform", status="succeeded") == 3
    assert _value(samples, "slaflow_runs", workflow="metrics-boom", planner="wukong", status="failed") == 1
    assert _value(samples, "slaflow_runs_in_flight", workflow="metrics-hung", planner="wukong", status="running") == 1
    # SLA attainment and promise error over the runs that had a promise (the first had no history)
    promised = [WorkflowRun.objects.get(pk=r.id) for r in (first, *runs)]
    promised = [r for r in promised if r.predicted_makespan_s]
    assert len(promised) >= 2
    judged = _value(samples, "slaflow_sla_runs", workflow=name, planner="uniform", sla="p90")
    assert judged == len(promised)
    within = sum(r.makespan_s <= r.predicted_makespan_s for r in promised) / len(promised)
    assert _value(
        samples, "slaflow_sla_attainment_ratio", workflow=name, planner="uniform", sla="p90"
    ) == pytest.approx(within)
    error = statistics.median(abs(r.predicted_makespan_s - r.makespan_s) / r.makespan_s for r in promised)
    assert _value(samples, "slaflow_promise_error_ratio", workflow=name, planner="uniform", sla="p90") == pytest.approx(
        error
    )
    # task stage histograms: 4 tasks × 3 runs, the slow ones above 0.25 s
    count = sum(
        v
        for lab, v in samples["slaflow_task_duration_seconds_count"]
        if lab["workflow"] == name and lab["stage"] == "exec"
    )
    assert count == 12
    fast = sum(
        v
        for lab, v in samples["slaflow_task_duration_seconds_bucket"]
        if lab["workflow"] == name and lab["stage"] == "exec" and lab["le"] == "0.25"
    )
    assert fast == 6  # value and add of each run within 0.25 s; its two slow_inc (0.3 s) above
    memory = {lab["memory_mb"] for lab, _ in samples["slaflow_task_duration_seconds_count"] if lab["workflow"] == name}
    assert memory and memory <= {str(mb) for mb in settings.SLAFLOW_RESOURCE_CONFIGS}
    # start-ups: every branch of the runs counted as cold or warm
    starts = {lab["kind"]: v for lab, v in samples["slaflow_startups"] if lab["workflow"] == name}
    from orchestrator.models import WorkerStartup

    stored = WorkerStartup.objects.filter(run__workflow__name=name)
    assert sum(starts.values()) == stored.count() > 0
    assert starts.get("cold", 0) == stored.filter(cold=True).count()
    # bytes moved: the fan-in read both slow_inc outputs, in memory or from Redis, in every run
    moved = {
        (lab["direction"], lab["tier"]): v for lab, v in samples["slaflow_data_moved_bytes"] if lab["workflow"] == name
    }
    assert sum(v for (d, _), v in moved.items() if d == "download") > 0
    assert set(tier for _, tier in moved) <= {"memory", "redis", "stream", "preload", "shm", "remote"}
    # optimization events: what the clustered run recorded
    recorded = WorkflowRun.objects.get(pk=clustered.id).optimizations["counts"]
    assert recorded.get("clustered_children")
    scraped = {
        lab["event"]: v
        for lab, v in samples["slaflow_optimization_events"]
        if lab["workflow"] == "metrics-opt" and lab["planner"] == "wukong-opt"
    }
    assert scraped == recorded
    # the cluster: a queue and a published pool per configuration
    queues = {lab["queue"]: v for lab, v in samples["slaflow_queue_messages"]}
    assert set(queues) == {f"rc-{mb}" for mb in settings.SLAFLOW_RESOURCE_CONFIGS}
    pools = {lab["queue"]: v for lab, v in samples["slaflow_pool_processes"]}
    assert set(pools) == set(queues) and all(v >= 1 for v in pools.values())
    assert all(v > 0 for _, v in samples["slaflow_host_cores"])

    # every query of the Grafana dashboard names series this scrape has
    have = set(samples)
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            names = set(re.findall(r"\bslaflow_[a-z_]+", target["expr"]))
            assert names and names <= have, (panel["title"], names - have)


def test_running_branches_are_counted_per_queue_while_they_run(live, client, fresh_metrics, counts):
    """A queue's reserved work (``slaflow_queue_running``, what the KEDA scalers add to the waiting
    messages): a branch holding its lease counts on its configuration's queue until it ends."""
    handle = submit(t.hang(t.value(1), 3600.0, tag="metrics-running"), planner="wukong")
    until(lambda: counts("metrics-running") == 1, timeout_s=60, what="the hanging task started")
    running = {lab["queue"]: v for lab, v in _scrape(client)["slaflow_queue_running"]}
    assert set(running) == {f"rc-{mb}" for mb in settings.SLAFLOW_RESOURCE_CONFIGS}
    default_queue = f"rc-{max(settings.SLAFLOW_RESOURCE_CONFIGS)}"  # WUKONG's configuration
    assert running[default_queue] >= 1
    cancel_run(handle.id)
    until(
        lambda: all(v == 0 for _, v in _scrape(client)["slaflow_queue_running"]),
        timeout_s=60,
        what="no branch running once the run is cancelled",
    )


def test_metrics_are_not_for_anonymous_users_in_production(live, client, settings, django_user_model, fresh_metrics):
    settings.MODE = "production"
    settings.SLAFLOW_METRICS_TOKEN = ""
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and b"slaflow_" not in anonymous.content
    settings.SLAFLOW_METRICS_TOKEN = "s3cret-token-for-the-test"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token s3cret-token-for-the-test").status_code == 401
    assert "slaflow_queue_messages" in _scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token-for-the-test")
    user = django_user_model.objects.create_user("someone", password="pw-someone")
    client.force_login(user)
    assert client.get("/metrics").status_code == 401  # a login is not enough: staff, or the token
    user.is_staff = True
    user.save()
    assert "slaflow_host_cores" in _scrape(client)


def test_metrics_are_cached_briefly(live, client, settings):
    settings.SLAFLOW_METRICS_CACHE_S = 60.0
    prometheus._cache["at"] = 0.0
    before = client.get("/metrics").content
    run = submit(t.inc(1), name="metrics-cached")
    assert run.result(timeout=60) == 2
    assert client.get("/metrics").content == before  # within the cache time: the same text
    settings.SLAFLOW_METRICS_CACHE_S = 0.0
    assert b'workflow="metrics-cached"' in client.get("/metrics").content


def test_status_shows_hosts_queues_pools_and_runs_in_flight(live):
    hung = submit(t.hang(1, seconds=120), name="status-hung", planner="wukong", sla="p90")
    until(lambda: WorkflowRun.objects.get(pk=hung.id).status == "running", timeout_s=30, what="the run running")
    try:
        _every_pool_published()
        out = io.StringIO()
        call_command("cluster_status", "--json", stdout=out)
        text = io.StringIO()
        call_command("cluster_status", stdout=text)
    finally:
        cancel_run(hung.id)
    snap = json.loads(out.getvalue())
    queues = {f"rc-{mb}" for mb in settings.SLAFLOW_RESOURCE_CONFIGS}
    assert set(snap["queues"]) == queues and all(isinstance(n, int) for n in snap["queues"].values())
    assert {p["queue"] for p in snap["pools"]} == queues and all(p["processes"] >= 1 for p in snap["pools"])
    assert snap["hosts"] and {p["host"] for p in snap["pools"]} <= set(snap["hosts"])
    assert snap["missing_queues"] == [] and len(snap["workers"]) >= 3
    mine = [r for r in snap["runs_in_flight"] if r["run"] == hung.id]
    assert mine and mine[0]["workflow"] == "status-hung" and mine[0]["status"] == "running"
    shown = text.getvalue()
    assert f"run {hung.id} status-hung wukong/p90: running" in shown
    for q in queues:
        assert f"  {q}: " in shown


def test_status_says_when_redis_does_not_answer(db, dead_redis):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"cannot read the cluster: .*(Connection|refused)"):
        call_command("cluster_status", "--timeout", "0", stdout=io.StringIO())


def test_messages_waiting_on_a_hosts_queue_count_for_their_configuration(db, client, fresh_metrics, redis_server):
    """Work sent to the host holding its inputs waits on ``rc-<MB>@<host>``: an autoscaler reading
    ``slaflow_queue_messages`` must see it (a host no worker serves here, so nothing takes the messages)."""
    from orchestrator.core import router
    from orchestrator.services import cluster
    from store.redis_client import get_redis

    mb = min(settings.SLAFLOW_RESOURCE_CONFIGS)
    queue, host_queue = router.queue_for(mb), router.host_queue_for(mb, "h-nobody-serves")
    r = get_redis()
    before = cluster.queue_depths()[queue]
    try:
        r.rpush(host_queue, b"m1", b"m2")
        r.rpush(f"{host_queue}{cluster.PRIORITY_SEP}6", b"m3")  # one of kombu's priority sub-lists
        assert cluster.host_queue_depths()[(queue, "h-nobody-serves")] == 3
        assert cluster.queue_depths()[queue] == before + 3
        samples = _scrape(client)
        assert _value(samples, "slaflow_host_queue_messages", queue=queue, host="h-nobody-serves") == 3
        assert _value(samples, "slaflow_queue_messages", queue=queue) == before + 3
    finally:
        r.delete(host_queue, f"{host_queue}{cluster.PRIORITY_SEP}6")
    assert (queue, "h-nobody-serves") not in cluster.host_queue_depths()
