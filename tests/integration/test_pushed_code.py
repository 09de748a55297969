"""Workflow code that travels (issue 28 item 4): users with orchestrator.push_code push a module or wheel
(REST, the slaflow command, the admin); workers started before the push fetch it by hash on first use,
verify it and import it under a name unique to the hash — two versions side by side, no restart."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile

from orchestrator.models import CodeBlob, CodeVersion, WorkerStartup, WorkflowCode
from tests.apiutil import client_for, wait_for_status
from tests.codefiles import module, wheel
from tests.conftest import cluster_env
from workers import codeloader as loader

pytestmark = [pytest.mark.integration]

SLAFLOW = str(Path(sys.executable).with_name("slaflow"))


def pusher(username: str):
    client = client_for(username)
    User.objects.get(username=username).user_permissions.add(Permission.objects.get(codename="push_code"))
    return client


def push(client, filename: str, content: bytes, name: str | None = None):
    data = {"file": SimpleUploadedFile(filename, content)}
    if name:
        data["name"] = name
    return client.post("/api/code/", data, format="multipart")


def run_spec(client, nodes, name="pushed"):
    resp = client.post(
        "/api/runs/", {"dag": {"nodes": nodes}, "name": name, "planner": "wukong", "sla": "p90"}, format="json"
    )
    return resp


def result_of(client, run_id):
    run = wait_for_status(client, run_id, timeout_s=90)
    assert run["status"] == "succeeded", run
    return client.get(f"/api/runs/{run_id}/result/").json()["value"]


def cli(*args, token: str, url: str):
    env = {**os.environ, "PYTHONPATH": str(settings.BASE_DIR), **cluster_env()}
    return subprocess.run(
        [SLAFLOW, "code", *args, "--url", url, "--token", token], capture_output=True, text=True, timeout=60, env=env
    )


def test_pushed_versions_run_side_by_side_on_workers_started_before_the_push(live, live_server, tmp_path):
    alice = pusher("alice")
    first = push(alice, "calc.py", module(1))
    assert first.status_code == 201, first.content
    assert (first.json()["name"], first.json()["version"], first.json()["kind"]) == ("calc", 1, "module")
    assert first.json()["sha256"] == hashlib.sha256(module(1)).hexdigest()
    # the second version through the command line (REST underneath)
    src = tmp_path / "calc.py"
    src.write_bytes(module(2))
    out = cli("push", str(src), token=alice.token, url=live_server.url)
    assert out.returncode == 0, out.stderr
    assert "pushed alice/calc version 2 (module" in out.stdout and "code:calc@2:<function>" in out.stdout
    again = cli("push", str(src), token=alice.token, url=live_server.url)
    assert again.returncode == 0 and "already pushed as alice/calc version 2" in again.stdout
    listed = cli("list", token=alice.token, url=live_server.url)
    assert "alice/calc  versions 2, 1" in listed.stdout

    # one chain (one branch, one worker process): v1, then v2, then v1 again, and an installed @task function
    nodes = [
        {"id": "a", "function": "code:calc@1:scale", "args": [5]},
        {"id": "b", "function": "code:calc@2:scale", "args": [{"ref": "a"}]},
        {"id": "c", "function": "tests.taskfns.inc", "args": [{"ref": "b"}]},
        {"id": "d", "function": "code:calc@latest:tag", "args": [{"ref": "c"}]},
        {"id": "e", "function": f"code:calc@sha256:{first.json()['sha256'][:12]}:tag", "args": [{"ref": "d"}]},
    ]
    resp = run_spec(alice, nodes)
    assert resp.status_code == 201, resp.content
    run_id = resp.json()["id"]
    assert result_of(alice, run_id) == "v1:v2:11"  # 5×1 → ×2 → +1 → 'v2:' → 'v1:'
    tasks = {t["node_id"]: t for t in alice.get(f"/api/runs/{run_id}/tasks/").json()["results"]}
    sha1, sha2 = first.json()["sha256"], hashlib.sha256(module(2)).hexdigest()
    assert tasks["a"]["function"] == f"code:calc@sha256:{sha1}:scale"  # pinned at submission
    assert tasks["b"]["function"] == f"code:calc@sha256:{sha2}:scale"
    # one chain, one branch: both versions ran in one worker process, side by side
    from orchestrator.models import TaskRun

    assert len(set(TaskRun.objects.filter(run_id=run_id).values_list("pid", flat=True))) == 1
    # fetching and importing was part of the first branch's start-up, measured
    startups = list(WorkerStartup.objects.filter(run_id=run_id))
    assert any(s.code_s > 0 for s in startups)
    assert all(s.startup_s >= s.code_s for s in startups)
    assert os.path.exists(loader.blob_path(sha1)) and os.path.exists(loader.blob_path(sha2))


def test_without_the_permission_pushing_is_403_and_nothing_is_stored(live, live_server, tmp_path):
    bob = client_for("bob-no-perm")
    resp = push(bob, "calc.py", module(1))
    assert resp.status_code == 403 and "orchestrator.push_code" in resp.json()["detail"]
    src = tmp_path / "calc.py"
    src.write_bytes(module(1))
    out = cli("push", str(src), token=bob.token, url=live_server.url)
    assert out.returncode == 1 and "refused (403)" in out.stderr and "push_code" in out.stderr
    assert not CodeBlob.objects.exists() and not WorkflowCode.objects.exists()


def test_another_users_code_is_refused_at_submission_until_shared(live):
    alice, carol = pusher("alice2"), client_for("carol")
    assert push(alice, "secretcalc.py", module(7)).status_code == 201
    nodes = [{"id": "a", "function": "code:secretcalc@1:scale", "args": [2]}]
    for fn in ("code:secretcalc@1:scale", "code:alice2/secretcalc@1:scale"):
        resp = run_spec(carol, [{**nodes[0], "function": fn}])
        assert resp.status_code == 400
        error = resp.json()["dag"][0]
        assert "no pushed code named 'secretcalc'" in error and "shared with you" in error
    resp = carol.post("/api/plans/preview/", {"dag": {"nodes": nodes}}, format="json")
    assert resp.status_code == 400 and "secretcalc" in resp.json()["dag"][0]
    assert carol.get("/api/code/alice2/secretcalc/").status_code == 404

    # shared with a group carol is in: her spec runs it
    group = Group.objects.create(name="analysts")
    User.objects.get(username="carol").groups.add(group)
    shared = alice.post("/api/code/alice2/secretcalc/share/", {"groups": ["analysts"]}, format="json")
    assert shared.status_code == 200 and shared.json()["shared_with_groups"] == ["analysts"]
    resp = run_spec(carol, nodes)
    assert resp.status_code == 201, resp.content
    assert result_of(carol, resp.json()["id"]) == 14
    # only the owner shares; unknown users are named
    assert carol.post("/api/code/alice2/secretcalc/share/", {"users": ["carol"]}, format="json").status_code == 404
    bad = alice.post("/api/code/alice2/secretcalc/share/", {"users": ["nobody-here"]}, format="json")
    assert bad.status_code == 400 and "nobody-here" in bad.json()["users"][0]
    # a version that does not exist is named
    resp = run_spec(carol, [{**nodes[0], "function": "code:secretcalc@9:scale"}])
    assert resp.status_code == 400 and "has no version 9 (the latest is 1)" in resp.json()["dag"][0]
    # the owner loses the permission: their code no longer runs for anyone
    User.objects.get(username="alice2").user_permissions.clear()
    resp = run_spec(carol, nodes)
    assert resp.status_code == 400 and "may no longer push code" in resp.json()["dag"][0]


def test_a_tampered_cache_file_is_refetched_and_tampered_stored_bytes_are_refused(live):
    alice = pusher("alice3")
    genuine = module(3, "\ndef mark(x):\n    return 'genuine'\n")
    sha = push(alice, "tampered.py", genuine).json()["sha256"]
    # a cache file for that hash holding other code, planted before any worker used it
    os.makedirs(os.path.dirname(loader.blob_path(sha)), exist_ok=True)
    Path(loader.blob_path(sha)).write_bytes(b"def mark(x):\n    return 'TAMPERED'\n")
    resp = run_spec(alice, [{"id": "a", "function": "code:tampered@1:mark", "args": [0]}])
    assert result_of(alice, resp.json()["id"]) == "genuine"
    assert hashlib.sha256(Path(loader.blob_path(sha)).read_bytes()).hexdigest() == sha  # re-fetched

    # bytes in the database that do not match their hash: refused, nothing imported
    evil_sha = push(alice, "tampered2.py", module(4)).json()["sha256"]
    CodeBlob.objects.filter(pk=evil_sha).update(data=b"def scale(x):\n    return 'TAMPERED'\n")
    shutil.rmtree(os.path.dirname(loader.blob_path(evil_sha)), ignore_errors=True)
    resp = run_spec(alice, [{"id": "a", "function": "code:tampered2@1:scale", "args": [1]}])
    run = wait_for_status(alice, resp.json()["id"], timeout_s=90)
    assert run["status"] == "failed" and "do not match their sha256" in run["error"], run
    assert not os.path.exists(loader.blob_path(evil_sha))


def test_malicious_wheels_are_refused_naming_the_problem_and_nothing_is_stored(live):
    alice = pusher("alice4")
    cases = [
        (wheel({"evilpkg/__init__.py": "", "../../etc/evil.py": "x = 1\n"}), "leaves its directory"),
        (
            wheel({"evilpkg/__init__.py": "", "evilpkg/big.bin": b"\0" * (17 * 1024 * 1024)}),
            "SLAFLOW_CODE_MAX_UNPACKED_BYTES",
        ),
        (b"PK\x03\x04 this is no zip", "not a valid zip archive"),
        (wheel({"os/__init__.py": ""}), "standard library"),
    ]
    for content, message in cases:
        resp = push(alice, "evil-1.0-py3-none-any.whl", content)
        assert resp.status_code == 400, resp.content
        assert message in str(resp.json()), resp.json()
    resp = push(alice, "notes.txt", b"hello")
    assert resp.status_code == 400 and "neither a Python module (.py) nor a wheel (.whl)" in resp.json()["file"][0]
    assert not CodeBlob.objects.exists() and not CodeVersion.objects.exists() and not WorkflowCode.objects.exists()


def test_a_pushed_wheel_runs_with_its_subpackages_and_relative_imports(live):
    alice = pusher("alice5")
    data = wheel(
        {
            "geom/__init__.py": "from .shapes import area\n",
            "geom/shapes.py": "from . import units\n\ndef area(w, h):\n    return units.SCALE * w * h\n",
            "geom/units.py": "SCALE = 10\n",
        },
        dist="geom-1.0",
    )
    resp = push(alice, "geom-1.0-py3-none-any.whl", data)
    assert resp.status_code == 201 and resp.json()["kind"] == "wheel" and resp.json()["name"] == "geom"
    nodes = [
        {"id": "a", "function": "code:geom@1:area", "args": [2, 3]},
        {"id": "b", "function": "code:geom@1:shapes.area", "args": [{"ref": "a"}, 1]},
    ]
    resp = run_spec(alice, nodes)
    assert resp.status_code == 201, resp.content
    assert result_of(alice, resp.json()["id"]) == 600


def test_the_admin_pushes_with_the_permission_only(live, client):
    staff = User.objects.create_user("admin-pusher", password="pw-12345678", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/orchestrator/codeversion/add/").status_code == 403
    staff.user_permissions.add(
        Permission.objects.get(codename="push_code"), Permission.objects.get(codename="view_codeversion")
    )
    resp = client.post(
        "/admin/orchestrator/codeversion/add/", {"file": SimpleUploadedFile("admincalc.py", module(5)), "name": ""}
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert CodeVersion.objects.get(code__name="admincalc").version == 1
    resp = client.post("/admin/orchestrator/codeversion/add/", {"file": SimpleUploadedFile("json.py", module(5))})
    assert resp.status_code == 200 and "standard library" in resp.content.decode()
    assert not WorkflowCode.objects.filter(name="json").exists()
    # the owner's code page lists its versions and shares it with users and groups
    root = User.objects.create_superuser("root-admin", password="pw-12345678")
    client.force_login(root)
    code = WorkflowCode.objects.get(name="admincalc")
    page = client.get(f"/admin/orchestrator/workflowcode/{code.pk}/change/")
    assert page.status_code == 200 and "shared_with_groups" in page.content.decode()
    assert client.get("/admin/orchestrator/codeversion/").status_code == 200


def test_a_prewarm_ping_loads_the_runs_pushed_code_before_its_branch(live, run_id):
    """What a pre-warm ping does in a pool process (``ProcessState.prepare``): the run's pushed code is fetched
    and imported, so the branch that follows finds it loaded (its start-up pays nothing for it)."""
    from orchestrator.core.graph import Node
    from orchestrator.services import code as service
    from workers.context import build_meta, build_spec, process_state, put_meta

    alice = pusher("alice6")
    sha = push(alice, "warmcalc.py", module(6)).json()["sha256"]
    graph = service.pin_graph(
        {"a": Node("a", "code:warmcalc@1:scale", args=(7,))}, User.objects.get(username="alice6"), network=True
    )
    put_meta(
        run_id,
        build_meta(
            run_id=run_id,
            structure_hash="warm",
            inputs_hash=f"warm-{sha}",
            started_at=0.0,
            sink="a",
            plan={},
            default_memory_mb=1024,
        ),
        build_spec(graph, {"nodes": [{"id": "a", "function": graph["a"].function, "args": [7]}]}),
    )
    shutil.rmtree(os.path.dirname(loader.blob_path(sha)), ignore_errors=True)
    loader.forget(sha)
    assert sha not in loader.loaded()
    ctx = process_state().prepare(run_id)
    assert sha in loader.loaded() and os.path.exists(loader.blob_path(sha))
    assert ctx.fns[graph["a"].function](7) == 42
    assert ctx.load_code() < 0.05  # already there: the branch's start-up pays nothing more


def test_two_versions_live_side_by_side_in_one_process(live):
    """In this process: both versions imported, each under a name unique to its hash, neither replacing the
    other, and nothing named like the pushed module appears among the importable names."""
    alice = pusher("alice7")
    sha1 = push(alice, "twin.py", module(1)).json()["sha256"]
    sha2 = push(alice, "twin.py", module(2)).json()["sha256"]
    one = loader.resolve(f"code:twin@sha256:{sha1}:tag")
    two = loader.resolve(f"code:twin@sha256:{sha2}:tag")
    assert (one("x"), two("x"), one("y")) == ("v1:x", "v2:x", "v1:y")
    assert one.__module__ == f"slaflow_pushed.h{sha1}.twin" and two.__module__ == f"slaflow_pushed.h{sha2}.twin"
    assert "twin" not in sys.modules


def test_pushed_code_that_fails_to_import_fails_its_task_naming_the_error(live):
    alice = pusher("alice8")
    assert (
        push(alice, "brokenimport.py", b"raise RuntimeError('boom at import')\n\ndef f(x):\n    return x\n").status_code
        == 201
    )  # compiles: it is never run on the web server
    resp = run_spec(alice, [{"id": "a", "function": "code:brokenimport@1:f", "args": [1]}])
    run = wait_for_status(alice, resp.json()["id"], timeout_s=90)
    assert run["status"] == "failed" and run["failed_node"] == "a", run
    assert "cannot load the function: RuntimeError: boom at import" in run["error"], run["error"]
