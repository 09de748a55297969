"""GET /api/runs/{id}/result/download/ on real workers: a run's stored result as .npy, bytes or JSON."""

import io
import json

import numpy as np
import pytest

from orchestrator.client import ApiError, Client, RunFailed
from orchestrator.core import codec
from orchestrator.services.accounts import issue_token
from slaflow.workflows import gemm
from tests import taskfns as t
from tests.apiutil import client_for, wait_for_status

pytestmark = [pytest.mark.integration]


def _run(api, nodes: list[dict], statuses=("succeeded", "failed", "cancelled")) -> int:
    resp = api.post("/api/runs/", {"dag": {"nodes": nodes}}, format="json")
    assert resp.status_code == 201, resp.content
    wait_for_status(api, resp.json()["id"], statuses)
    return resp.json()["id"]


def _value_run(api, value) -> int:
    return _run(api, [{"id": "v", "function": "tests.taskfns.value", "args": [codec.to_jsonable(value)]}])


def _download(api, run_id: int, **query):
    return api.get(f"/api/runs/{run_id}/result/download/", query)


def test_an_array_downloads_as_npy_bytes_as_they_are_json_as_json(live):
    api = client_for("dl-user")
    # 2 MB of floats: over the publish threshold, so the result also went through the output store first.
    array_run = _run(api, [{"id": "p", "function": "tests.taskfns.payload", "args": [3, 2]}])
    resp = _download(api, array_run)
    assert resp.status_code == 200 and resp.streaming
    assert resp["Content-Type"] == "application/octet-stream" and resp["X-Slaflow-Result-Format"] == "npy"
    assert resp["Content-Disposition"] == f'attachment; filename="run-{array_run}-result.npy"'
    chunks = list(resp.streaming_content)
    assert len(chunks) == 3 and max(len(c) for c in chunks) == 1 << 20  # streamed a MiB at a time
    raw = b"".join(chunks)
    assert int(resp["Content-Length"]) == len(raw) == api.get(f"/api/runs/{array_run}/result/").json()["bytes"]
    got = np.load(io.BytesIO(raw), allow_pickle=False)
    assert np.array_equal(got, np.random.default_rng(4).standard_normal(2 * (1 << 20) // 8))
    assert b"".join(_download(api, array_run, format="npy").streaming_content) == raw
    wrong = _download(api, array_run, format="json")
    assert wrong.status_code == 406 and "downloads as format=npy, not json" in wrong.json()["detail"]

    blob = bytes(range(256)) * 3
    bytes_run = _value_run(api, blob)
    resp = _download(api, bytes_run, format="bytes")
    assert resp.status_code == 200 and resp["X-Slaflow-Result-Format"] == "bytes"
    assert resp["Content-Type"] == "application/octet-stream" and resp["Content-Disposition"].endswith('.bin"')
    assert b"".join(resp.streaming_content) == blob and resp["Content-Length"] == str(len(blob))

    plain = {"total": 3, "names": ["a", "__sf__"], "nested": {"x": [1.5, None, True]}}
    json_run = _value_run(api, plain)
    resp = _download(api, json_run)
    assert resp.status_code == 200 and resp["Content-Type"] == "application/json"
    assert resp["X-Slaflow-Result-Format"] == "json" and resp["Content-Disposition"].endswith('.json"')
    assert json.loads(b"".join(resp.streaming_content)) == plain


def test_a_value_with_no_such_form_is_406_naming_what_and_where(live):
    api = client_for("dl-shapes")
    for value, where in [
        ((1, 2), "a tuple at value"),
        ([1, {"a": np.arange(3)}], "a numpy array at value[1]['a']"),
        ({1: "one"}, "a dict with keys JSON cannot hold at value"),
    ]:
        run_id = _value_run(api, value)
        resp = _download(api, run_id)
        assert resp.status_code == 406 and resp["Content-Type"] == "application/json", resp.content
        assert f"holds {where}." in resp.json()["detail"], resp.json()
        assert _download(api, run_id, format="json").status_code == 406


def test_only_a_succeeded_run_of_ones_own_downloads(live):
    alice, bob, staff = client_for("dl-alice"), client_for("dl-bob"), client_for("dl-staff", staff=True)
    run_id = _value_run(alice, b"alice's")
    assert b"".join(_download(staff, run_id).streaming_content) == b"alice's"  # staff see every run
    for hostile in (
        bob.get(f"/api/runs/{run_id}/result/download/"),
        bob.get(f"/api/runs/{run_id}/result/download/", HTTP_ACCEPT="application/octet-stream"),
        alice.get("/api/runs/987654321/result/download/"),
        alice.get("/api/runs/99999999999999999999/result/download/"),
    ):
        assert hostile.status_code == 404 and hostile["Content-Type"] == "application/json", hostile.content
    from rest_framework.test import APIClient

    assert APIClient().get(f"/api/runs/{run_id}/result/download/").status_code == 401
    bad = _download(alice, run_id, format="pickle")
    assert bad.status_code == 400 and "format" in bad.json()

    failed = _run(alice, [{"id": "x", "function": "tests.taskfns.boom", "args": [5]}])
    resp = _download(alice, failed)
    assert resp.status_code == 409 and resp.json()["status"] == "failed" and "boom on 5" in resp.json()["error"]

    resp = alice.post(
        "/api/runs/",
        {"dag": {"nodes": [{"id": "s", "function": "tests.taskfns.slow_inc", "args": [1, 30]}]}},
        format="json",
    )
    running = resp.json()["id"]
    wait_for_status(alice, running, ("running",))
    resp = _download(alice, running, format="npy")
    assert resp.status_code == 409 and resp.json()["detail"] == f"run {running} is running: no result yet"
    assert alice.post(f"/api/runs/{running}/cancel/").status_code == 200
    resp = _download(alice, running)
    assert resp.status_code == 409 and resp.json()["status"] == "cancelled"


def test_the_client_downloads_arrays_bytes_and_json(live, live_server, tmp_path):
    api = Client(live_server.url, issue_token(username="dl-client", create_user=True).key, timeout=30)
    # A library workflow whose result is a 256×256 array (512 KiB).
    run = api.submit("gemm", params={"n": 256, "block": 128}, planner="wukong", sla="p90")
    array = api.download(run["id"], timeout=120)
    assert isinstance(array, np.ndarray) and gemm.check(array, n=256, block=128)
    path = api.download(run["id"], to=tmp_path / "gemm.npy")
    assert path == tmp_path / "gemm.npy" and np.array_equal(np.load(path, allow_pickle=False), array)

    # Tens of MB over real HTTP, written to a file as they arrive.
    big = api.submit(t.payload(7, 24))
    path = api.download(big["id"], timeout=120, to=tmp_path / "big.npy")
    expected = np.random.default_rng(8).standard_normal(24 * (1 << 20) // 8)
    assert np.array_equal(np.load(path, allow_pickle=False), expected)

    assert api.download(api.submit(t.value(b"\x00raw\xff"))["id"], timeout=60) == b"\x00raw\xff"
    assert api.download(api.submit(t.value({"k": [1, 2]}))["id"], timeout=60) == {"k": [1, 2]}
    with pytest.raises(ApiError) as err:
        api.download(api.submit(t.value((1, 2)))["id"], timeout=60)
    assert err.value.status == 406 and "a tuple at value" in err.value.body["detail"]
    with pytest.raises(RunFailed, match="boom on 2"):
        api.download(api.submit(t.boom(2))["id"], timeout=60)
    other = Client(live_server.url, issue_token(username="dl-client-2", create_user=True).key, timeout=30)
    with pytest.raises(ApiError) as err:
        other.download(run["id"])
    assert err.value.status == 404
