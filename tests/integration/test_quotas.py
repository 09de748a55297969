"""Fair sharing on real workers (issue 23, rows 10 and 13): per-user quotas met alike in REST, the web launch
form, the Python API and commands; the task budget counting mapped elements at run time; the default task time
limit stopping a program that never ends."""

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from orchestrator.models import WorkflowRun
from orchestrator.services import quotas, runs as run_services
from slaflow import command, submit, submit_spec
from tests.apiutil import client_for, stored_counts, wait_for_status
from tests.waiting import until

pytestmark = [pytest.mark.integration]

HANG = {
    "name": "holds-a-slot",
    "nodes": [{"id": "h", "function": "tests.taskfns.hang", "args": [1], "kwargs": {"seconds": 60}}],
}
QUICK = {"name": "quick", "nodes": [{"id": "v", "function": "tests.taskfns.value", "args": [1]}]}


def _post(api, dag, **extra):
    return api.post("/api/runs/", {"dag": dag, "planner": "wukong", "sla": "p90", **extra}, format="json")


def _cancel_unfinished(username: str) -> None:
    for run_id in WorkflowRun.objects.filter(owner__username=username, status__in=quotas.ACTIVE_RUNS).values_list(
        "pk", flat=True
    ):
        run_services.cancel_run(run_id)


def test_a_user_at_their_concurrent_runs_gets_429_naming_the_setting_and_nothing_is_stored(live, settings):
    settings.SLAFLOW_QUOTA_CONCURRENT_RUNS = 2
    api = client_for("greedy")
    try:
        first, second = _post(api, HANG), _post(api, HANG)
        assert (first.status_code, second.status_code) == (201, 201), (first.content, second.content)
        before = stored_counts()
        third = _post(api, HANG)
        assert third.status_code == 429, third.content
        assert "SLAFLOW_QUOTA_CONCURRENT_RUNS=2" in third.json()["detail"] and int(third["Retry-After"]) >= 1
        assert stored_counts() == before
        # Another user is not held up by this one, and staff are exempt.
        assert _post(client_for("patient"), QUICK).status_code == 201
        staff = client_for("operator", staff=True)
        assert [_post(staff, QUICK).status_code for _ in range(3)] == [201, 201, 201]
        # A slot freed is a slot to take again.
        assert api.post(f"/api/runs/{first.json()['id']}/cancel/").status_code == 200
        assert _post(api, HANG).status_code == 201
    finally:
        _cancel_unfinished("greedy")


def test_simultaneous_submissions_cannot_both_take_the_last_slot(live, settings):
    """Without the owner's row lock each of these would count 0 active runs and all would be admitted."""
    settings.SLAFLOW_QUOTA_CONCURRENT_RUNS = 1
    api_token = client_for("racer").token
    start, codes = threading.Barrier(4), []

    def submit_one():
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token}")
        try:
            start.wait(timeout=30)
            codes.append(_post(client, HANG).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_one) for _ in range(4)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert sorted(codes) == [201, 429, 429, 429], codes
        assert WorkflowRun.objects.filter(owner__username="racer").count() == 1
    finally:
        _cancel_unfinished("racer")


def test_runs_per_hour_are_counted_per_user_and_refused_with_retry_after(live, settings):
    settings.SLAFLOW_QUOTA_RUNS_PER_HOUR = 3
    api = client_for("hourly")
    for _ in range(3):
        resp = _post(api, QUICK)
        assert resp.status_code == 201, resp.content
        wait_for_status(api, resp.json()["id"])
    over = _post(api, QUICK)
    assert over.status_code == 429
    detail = over.json()["detail"]
    assert "3 runs in the last hour" in detail and "SLAFLOW_QUOTA_RUNS_PER_HOUR=3" in detail
    assert 3500 <= int(over["Retry-After"]) <= 3600
    # The same rule behind the Python API with an owner (one place for the rules).
    with pytest.raises(quotas.QuotaExceeded, match="SLAFLOW_QUOTA_RUNS_PER_HOUR=3"):
        submit_spec(QUICK, owner=WorkflowRun.objects.filter(owner__username="hourly").first().owner)


def test_time_limits_over_what_a_user_may_ask_for_are_refused_naming_the_setting(live, settings):
    settings.SLAFLOW_QUOTA_MAX_TIMEOUT_S = 600
    api = client_for("sleepy")
    before = stored_counts()
    run_level = _post(api, QUICK, timeout_s=601)
    assert run_level.status_code == 400
    assert "SLAFLOW_QUOTA_MAX_TIMEOUT_S=600" in run_level.json()["timeout_s"][0]
    own = {"nodes": [{"id": "v", "function": "tests.taskfns.value", "args": [1], "options": {"timeout_s": 9999}}]}
    task_level = _post(api, own)
    assert task_level.status_code == 400
    assert "node 'v': option 'timeout_s' 9999 s" in task_level.json()["dag"][0]
    assert stored_counts() == before
    assert _post(api, QUICK, timeout_s=600).status_code == 201


def test_a_run_expanding_past_its_task_budget_fails_naming_both_numbers(live, settings):
    """Two maps of 30 elements each stay under SLAFLOW_MAP_MAX_WIDTH, but not under the run's budget."""
    settings.SLAFLOW_API_MAX_TASKS = 50
    api = client_for("mapper")

    def spec(n):
        return {
            "name": f"two-maps-{n}",
            "nodes": [
                {"id": "s", "function": "tests.taskfns.split_n", "args": [n]},
                {"id": "p1", "function": "tests.taskfns.square", "map": {"ref": "s"}},
                {"id": "p2", "function": "tests.taskfns.square", "map": {"ref": "s"}, "kwargs": {"add": 1}},
                {"id": "g", "function": "tests.taskfns.add", "args": [{"ref": "p1"}, {"ref": "p2"}]},
            ],
        }

    over = _post(api, spec(30))
    assert over.status_code == 201, over.content
    done = wait_for_status(api, over.json()["id"])
    assert done["status"] == "failed"
    assert (
        "the run would have 64 tasks (4 in its graph and 60 mapped elements), more than its budget of 50 "
        "(SLAFLOW_API_MAX_TASKS)" in done["error"]
    ), done["error"]
    within = _post(api, spec(20))  # 4 + 40 = 44 tasks
    assert wait_for_status(api, within.json()["id"])["status"] == "succeeded"


def test_library_parameters_over_their_bound_are_refused_in_rest_and_commands(live):
    api = client_for("big-asker")
    before = stored_counts()
    resp = api.post("/api/runs/", {"workflow": "big_transfer", "params": {"size_mb": 100_000}}, format="json")
    assert resp.status_code == 400
    assert "big_transfer parameter 'size_mb' is 100000, more than its bound of 256" in resp.json()["params"][0]
    resp = api.post("/api/runs/", {"workflow": "fixed_times", "params": {"seconds": 86400}}, format="json")
    assert "fixed_times parameter 'seconds' is 86400.0, more than its bound of 60.0" in resp.json()["params"][0]
    assert stored_counts() == before
    with pytest.raises(CommandError, match=r"fixed_times parameter 'seconds' is 3600\.0, more than its bound"):
        call_command("run_workflow", "fixed_times", "--param", "seconds=3600", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match=r"more than .*10000"):  # the task budget, before any cluster starts
        call_command("run_workflow", "tree_reduction", "--param", "n=65536", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match=r"the campaign would make 360000 runs, more than 100000"):
        call_command(
            "run_sla_experiments",
            *(
                "--workflows diamond gemm --planners wukong uniform --slas p50 p90 p95 "
                "--iterations 30000 --warmup 0 --out /nonexistent"
            ).split(),
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert stored_counts() == before


def test_a_spec_naming_a_library_task_function_keeps_the_library_s_bounds(live):
    """Bounding ``LibraryWorkflow`` parameters was bypassed by a JSON spec naming the task function itself:
    ``big_transfer.produce`` with ``size_mb`` 100000 was accepted (201) and asked a worker for 100 GB. A
    bounded parameter (its module's ``BOUNDS``) must be a number within its bound, never a task's output."""
    api = client_for("bound-dodger")
    produce = "slaflow.workflows.big_transfer.produce"
    before = stored_counts()
    over = {"nodes": [{"id": "p", "function": produce, "kwargs": {"seed": 1, "size_mb": 100_000, "work_s": 0}}]}
    resp = _post(api, over)
    assert resp.status_code == 400, resp.content
    assert (
        "'size_mb' of 'slaflow.workflows.big_transfer.produce' is 100000, more than its bound of 256"
        in resp.json()["dag"][0]
    )
    positional = {"nodes": [{"id": "p", "function": produce, "args": [1, 100_000, 0]}]}
    assert "more than its bound of 256" in _post(api, positional).json()["dag"][0]
    through_a_task = {
        "nodes": [
            {"id": "s", "function": "slaflow.workflows.diamond.source", "args": [100_000]},
            {"id": "p", "function": produce, "kwargs": {"seed": 1, "size_mb": {"ref": "s"}, "work_s": 0}},
        ]
    }
    resp = _post(api, through_a_task)
    assert (
        resp.status_code == 400 and "'size_mb'" in resp.json()["dag"][0] and "a task's output" in resp.json()["dag"][0]
    ), resp.content
    mapped = {
        "nodes": [
            {"id": "l", "function": "slaflow.workflows.dynamic_chunks.split", "kwargs": {"n": 4, "chunk": 1}},
            {
                "id": "m",
                "function": "slaflow.workflows.image_transformer.make_image",
                "map": {"ref": "l"},
                "kwargs": {"seed": 1},
            },
        ]
    }
    assert "'size'" in _post(api, mapped).json()["dag"][0]
    text = {"nodes": [{"id": "p", "function": produce, "kwargs": {"seed": 1, "size_mb": "100000", "work_s": 0}}]}
    assert "must be a number" in _post(api, text).json()["dag"][0]
    preview = api.post("/api/plans/preview/", {"dag": over, "planners": ["wukong"]}, format="json")
    assert preview.status_code == 400 and "more than its bound of 256" in preview.json()["dag"][0], preview.content
    assert stored_counts() == before
    within = {"nodes": [{"id": "p", "function": produce, "kwargs": {"seed": 1, "size_mb": 1, "work_s": 0}}]}
    resp = _post(api, within)
    assert resp.status_code == 201, resp.content
    assert wait_for_status(api, resp.json()["id"])["status"] == "succeeded"


def test_a_program_with_no_time_limit_of_its_own_is_stopped_by_the_default(
    django_db_setup, django_db_blocker, transactional_db, redis_server, settings
):
    """``tail -f /dev/null`` held a pool slot until cancelled: with a finite SLAFLOW_TASK_TIMEOUT_S (here
    1.5 s, set for this cluster's workers) neither the run nor the task sets a limit and it is still stopped."""
    import subprocess

    from localcluster.launcher import LocalCluster
    from tests.conftest import cluster_env

    settings.SLAFLOW_RESOURCE_CONFIGS = (576,)
    settings.SLAFLOW_DEFAULT_MEMORY_MB = 576
    env = cluster_env(SLAFLOW_RESOURCE_CONFIGS="576", SLAFLOW_DEFAULT_MEMORY_MB="576", SLAFLOW_TASK_TIMEOUT_S="1.5")
    marker = "sleep 46.75"
    with LocalCluster(memory_configs=(576,), max_pool=1, min_pool=1, env=env, loglevel="info"):
        run = submit(command(["sleep", "46.75"]), name="no-own-limit")
        with pytest.raises(Exception, match=r"exceeded its time limit of 1\.5 s"):
            run.result(timeout=60)
        until(
            lambda: marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout,
            timeout_s=15,
            what="the program to be gone",
        )
    assert WorkflowRun.objects.get(pk=run.id).task_timeout_s is None  # the default did it, not the run


def test_a_campaign_run_refused_by_its_owner_s_quota_waits_for_its_turn_instead_of_failing(
    live, settings, caplog, django_user_model, tmp_path
):
    """A campaign takes its owner's share, never more: its run waits while the owner is at the quota."""
    import logging

    from experiments.campaigns import design, execute
    from tests.webui import factories as f

    settings.SLAFLOW_QUOTA_CONCURRENT_RUNS = 1
    owner = django_user_model.objects.create_user("campaigner", password="pw-campaigner-1")
    busy = f.make_run(owner, status="running")  # the owner's one slot is taken
    exp = execute.create(
        design.parse(workflows=["diamond"], planners=["wukong"], slas=["p90"], iterations=1, warmup=0, seed=0),
        out_dir=tmp_path / "camp",
        owner=owner,
    )
    caplog.set_level(logging.INFO, logger="slaflow.experiments")

    def free_the_slot_once_refused():
        try:
            until(
                lambda: any("SLAFLOW_QUOTA_CONCURRENT_RUNS=1" in r.getMessage() for r in caplog.records),
                timeout_s=60,
                what="the campaign's run to be refused by the quota",
            )
            WorkflowRun.objects.filter(pk=busy.pk).update(status="succeeded")
        finally:
            connection.close()

    freer = threading.Thread(target=free_the_slot_once_refused)
    freer.start()
    exp = execute.run(exp, timeout_s=120)
    freer.join(timeout=90)
    (slot,) = exp.runs.all()
    assert (exp.status, slot.status, slot.error, slot.attempts) == ("finished", "done", "", 1)
    assert WorkflowRun.objects.get(pk=slot.run_id).status == "succeeded"
