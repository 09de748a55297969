"""The output store against the real Redis, a real data server and real runs on the cluster."""

import http.client
import os
import time

import numpy as np
import pytest

from orchestrator.core import codec
from orchestrator.models import TaskRun
from slaflow import submit
from store import dataplane, keys, locations, tiers
from store.server import DataServer
from store.shm import HostDir, StoreError
from tests import taskfns as t
from tests.waiting import until

pytestmark = [pytest.mark.integration]


def test_the_threshold_splits_redis_from_shared_memory(redis_server, run_id, settings):
    settings.SLAFLOW_SHM_MIN_BYTES = 1000
    below, at = os.urandom(999), os.urandom(1000)
    dataplane.put_output(run_id, "below", below)
    dataplane.put_output(run_id, "at", at)
    assert redis_server.hget(keys.outputs(run_id), "below") == below  # just below: the value, in Redis
    loc = locations.decode(redis_server.hget(keys.outputs(run_id), "at"))  # at it: only a location in Redis
    assert loc is not None and loc.size == 1000 and loc.host == tiers.host_id()
    store = tiers.local()
    assert store.hdir.path(run_id, loc.name).read_bytes() == at
    got_below, got_at = dataplane.get_outputs(run_id, ["below", "at"])
    assert (got_below.tier, got_below.buf) == ("redis", below)
    assert got_at.tier == "shm" and got_at.buf == at
    settings.SLAFLOW_SHM_MIN_BYTES = 0  # the tier off: everything in Redis
    dataplane.put_output(run_id, "off", at)
    assert redis_server.hget(keys.outputs(run_id), "off") == at


def test_the_first_copy_stored_stands_and_the_run_s_files_go_with_its_data(redis_server, run_id, settings):
    settings.SLAFLOW_SHM_MIN_BYTES = 1000
    first, second = codec.dumps(np.zeros(1000)), codec.dumps(np.ones(1000))
    dataplane.put_output(run_id, "dup", first)
    dataplane.put_output(run_id, "dup", second)  # a duplicate's copy: written, never read
    got = dataplane.get_output(run_id, "dup").load()
    assert np.array_equal(got, np.zeros(1000)) and not got.flags.writeable
    folder = tiers.local().hdir.run_dir(run_id)
    assert len(list(folder.iterdir())) == 2
    dataplane.delete_run_data(run_id)
    assert not folder.exists()


def _other_host(tmp_path, name: str, networks=()) -> tiers.OutputStore:
    return tiers.OutputStore(name, HostDir(tmp_path / name, tiers.deployment()), 1000, networks)


def test_a_reader_on_another_host_fetches_from_the_producer_s_server_and_caches_it(redis_server, run_id, tmp_path):
    producer = _other_host(tmp_path, "host-a")
    server = DataServer(producer.hdir).start()
    try:
        producer = tiers.OutputStore("host-a", producer.hdir, 1000, (), server.address)
        value = np.random.default_rng(1).standard_normal(50_000)
        entry = producer.entry(run_id, "big", codec.dumps(value))
        reader = _other_host(tmp_path, "host-b")
        got = reader.resolve(run_id, entry)
        assert got.tier == "remote" and np.array_equal(got.load(), value)
        loc = locations.decode(entry)
        assert reader.hdir.exists(run_id, loc.name)  # cached on host b
        again = reader.resolve(run_id, entry)  # the next reader of host b maps the cached copy
        assert again.tier == "shm" and not again.load().flags.writeable
        # The server's own host maps it, never asks itself.
        assert producer.resolve(run_id, entry).tier == "shm"
        # A location whose record names a dead address: the host's other announced servers are asked.
        locations.announce_server("host-a", server.address)
        stale = locations.Location("host-a", "127.0.0.1:9", loc.name, loc.size, loc.checksum).encode()
        third = _other_host(tmp_path, "host-c")
        assert third.resolve(run_id, stale).tier == "remote"
    finally:
        locations.withdraw_server("host-a", server.address)
        server.stop()


def test_the_data_server_serves_only_output_files_of_its_deployment(redis_server, run_id, tmp_path):
    hdir = HostDir(tmp_path / "h", tiers.deployment())
    name, _ = hdir.write(run_id, "x", b"secret-ish")
    (tmp_path / "h" / "outside.txt").write_text("not an output")
    server = DataServer(hdir).start()
    try:
        host, port = server.address.rsplit(":", 1)

        def status(path: str) -> int:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", path)
            code = conn.getresponse().status
            conn.close()
            return code

        dep = hdir.deployment
        assert status(f"/{dep}/{run_id}/{name}") == 200
        assert status(f"/{dep}/{run_id}/../../outside.txt") == 400  # a path out of the run's directory
        assert status(f"/{dep}/../outside.txt") == 400
        assert status(f"/{dep}/{run_id}/%2e%2e") == 400
        assert status(f"/db0-other/{run_id}/{name}") == 400  # another deployment's files
        assert status(f"/{dep}/{run_id}/nope.123") == 404
    finally:
        server.stop()


def test_a_reader_never_contacts_an_address_outside_loopback_and_the_allowed_networks(tmp_path, redis_server):
    reader = _other_host(tmp_path, "host-b")
    far = locations.Location("host-far", "192.0.2.10:8000", "x-1.abc", 10, "0" * 16).encode()
    with pytest.raises(StoreError, match="will not fetch output .* not loopback nor in SLAFLOW_DATA_NETWORKS"):
        reader.resolve(1, far)


def test_a_run_s_big_outputs_are_mapped_by_readers_without_a_copy_and_removed_at_its_end(live):
    """Two 1 MB arrays feed one task (WUKONG: two executors make them, 3 s each — time for the second
    one to start under load; the one that finishes first uploads, the other runs the consumer): the
    uploaded input reaches it mapped — not owned, read-only — the other one in memory; the run's files
    are gone when it ends."""
    run = submit(t.buffer_facts(t.payload(1, 1, 3.0), t.payload(2, 1, 3.0)), name="zero-copy")
    facts = run.result(timeout=120)
    sums = sorted(f[2] for f in facts)
    expected = sorted(float(np.random.default_rng(x + 1).standard_normal((1 << 20) // 8).sum()) for x in (1, 2))
    assert np.allclose(sums, expected)
    assert sorted((f[0], f[1]) for f in facts) == [(False, False), (True, True)]
    consumer = TaskRun.objects.get(run_id=run.id, node_id__startswith="buffer_facts")
    tiers_seen = [i.get("tier") for i in consumer.inputs if not i.get("local")]
    assert tiers_seen == ["shm"]
    assert not tiers.local().hdir.run_dir(run.id).exists()


def test_a_killed_pool_process_loses_none_of_its_host_s_outputs(live, counts):
    """A 1 MB output read by two tasks that each kill their pool process the first time (one of them in
    the process that wrote the output): the redelivered branches read the output their dead process
    left in shared memory, and the run completes once per task; its files are then removed."""
    tag = f"shmkill-{time.time_ns()}"
    p = t.payload(3, 1)
    run = submit(t.gather([t.die_once_then(p, tag=tag + "a"), t.die_once_then(p, tag=tag + "b")]), name="shm-kill")
    total = float(np.random.default_rng(4).standard_normal((1 << 20) // 8).sum())
    assert np.allclose(run.result(timeout=180), [total, total])
    assert (counts(tag + "a"), counts(tag + "b")) == (1, 1)
    assert TaskRun.objects.filter(run_id=run.id, node_id__startswith="payload").count() == 1
    until(lambda: not tiers.local().hdir.run_dir(run.id).exists(), timeout_s=10, what="the run's files removed")


def test_the_sweep_removes_files_of_runs_that_are_over(redis_server, tmp_path, settings):
    settings.SLAFLOW_SHM_DIR = str(tmp_path / "sweep")
    store = tiers.local()
    live_run, dead_run = 990_001, 990_002
    redis_server.set(keys.meta(live_run), "{}", ex=60)
    try:
        for rid in (live_run, dead_run):
            store.hdir.write(rid, "n", b"y" * 10)
            old = time.time() - 300
            os.utime(store.hdir.run_dir(rid), (old, old))
        assert tiers.sweep() == [dead_run]
        assert store.hdir.runs() == [live_run]
    finally:
        redis_server.delete(keys.meta(live_run))


def test_an_input_whose_file_changed_after_it_was_written_fails_its_consumer_clearly(live, redis_server):
    """A 1 MB output in shared memory is corrupted before its consumer (in another executor: the one held
    by ``after`` until the test lets it go) reads it: the run fails naming the checksum, never computing on
    wrong bytes."""
    from orchestrator.handles import RunFailed

    tag = f"corrupt-{time.time_ns()}"
    run = submit(t.digest(t.after(0, tag, 0.0), t.payload(5, 1, 3.0)), name="corrupt")

    def location():
        raw = redis_server.hgetall(keys.outputs(run.id))
        return next((locations.decode(v) for v in raw.values() if locations.decode(v)), None)

    until(lambda: location() is not None, timeout_s=60, what="the payload stored in shared memory")
    path = tiers.local().hdir.path(run.id, location().name)
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"\x00\x01\x02\x03")
    redis_server.incr(f"sf:test:count:{tag}")  # now ``after`` ends, and its branch reads the payload
    with pytest.raises(RunFailed, match="does not match its checksum"):
        run.result(timeout=60)
