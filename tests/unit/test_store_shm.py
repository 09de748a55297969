"""The shared-memory tier on its own: files written once, mapped without a copy, checked, swept."""

import os
import time

import numpy as np
import pytest

from orchestrator.core import codec
from store.shm import HostDir, StoreError, file_name, valid_name


@pytest.fixture
def hdir(tmp_path):
    return HostDir(tmp_path / "shm", "db99-test")


def _stored(hdir, value, run_id=7, node="n"):
    data = codec.dumps(value)
    name, digest = hdir.write(run_id, node, data)
    return data, name, digest


def test_a_mapped_numpy_array_is_the_file_s_pages_read_only_and_identical(hdir):
    a = np.random.default_rng(3).standard_normal((300, 200))
    data, name, digest = _stored(hdir, a)
    view = hdir.map(7, name, len(data), digest)
    got = codec.loads_view(view)
    assert np.array_equal(got, a) and got.dtype == a.dtype and got.shape == a.shape
    assert not got.flags.owndata and not got.flags.writeable  # the mapping's buffer, not a copy
    assert np.shares_memory(got, np.frombuffer(view, dtype=np.uint8))
    assert got.ctypes.data % 64 == 0  # numpy's header padding keeps the data aligned in the file
    with pytest.raises(ValueError, match="read-only"):
        got[0, 0] = 1.0


def test_mapped_bytes_come_back_as_a_read_only_view_of_the_same_bytes(hdir):
    payload = os.urandom(100_000)
    data, name, digest = _stored(hdir, payload)
    got = codec.loads_view(hdir.map(7, name, len(data), digest))
    assert isinstance(got, memoryview) and got.readonly and got == payload and bytes(got) == payload


def test_other_values_decode_as_usual_from_a_mapping(hdir):
    value = {"a": [1, 2.5, None], "t": (1, "x")}
    data, name, digest = _stored(hdir, value)
    assert codec.loads_view(hdir.map(7, name, len(data), digest)) == value


def test_a_corrupted_or_cut_file_is_a_clear_error(hdir):
    data, name, digest = _stored(hdir, np.arange(50_000.0))
    path = hdir.path(7, name)
    with open(path, "r+b") as f:
        f.seek(len(data) // 2)
        f.write(b"\xff\xfe")
    with pytest.raises(StoreError, match="does not match its checksum"):
        hdir.map(7, name, len(data), digest)
    os.truncate(path, 100)
    with pytest.raises(StoreError, match="holds 100 bytes, .* were written"):
        hdir.map(7, name, len(data), digest)
    path.unlink()
    with pytest.raises(StoreError, match="is missing"):
        hdir.map(7, name, len(data), digest)


def test_every_copy_gets_its_own_file_and_names_never_leave_the_run_directory(hdir):
    a = file_name("../../etc/passwd")
    b = file_name("../../etc/passwd")
    assert a != b and valid_name(a) and "/" not in a
    for bad in ("../x", "a/b", "..", ".hidden", ""):
        assert not valid_name(bad)
        with pytest.raises(StoreError):
            hdir.path(1, bad)


def test_a_write_that_does_not_check_out_leaves_nothing(hdir):
    with pytest.raises(StoreError, match="checksum"):
        hdir.write_as(7, "n-1.abc", [b"hello"], expect="0" * 16)
    assert not hdir.exists(7, "n-1.abc") and list(hdir.run_dir(7).iterdir()) == []


def test_the_sweep_removes_runs_that_are_over_or_too_old_and_keeps_live_ones(hdir):
    for run_id in (1, 2, 3, 4):
        hdir.write(run_id, "n", b"x" * 10)
    old = time.time() - 120
    for run_id in (1, 2, 3):
        os.utime(hdir.run_dir(run_id), (old, old))
    live = {2, 4}.__contains__
    # 1 and 3: over and untouched for two minutes → gone; 2: live → kept; 4: live and new → kept.
    assert sorted(hdir.sweep(live, max_age_s=3600, grace_s=60)) == [1, 3]
    assert sorted(hdir.runs()) == [2, 4]
    assert hdir.sweep(lambda r: True, max_age_s=60) == [2]  # older than the TTL: gone even if live


def test_an_encoded_output_s_parts_are_written_as_one_file_identical_to_its_bytes(hdir):
    a = np.random.default_rng(5).standard_normal((400, 300))
    enc = codec.encode(a)
    assert len(enc.parts) == 2  # header and the array's own data: never joined on the way to the file
    name, digest = hdir.write(7, "parts", list(enc.parts))
    whole, whole_digest = hdir.write(7, "whole", enc.tobytes())
    assert digest == whole_digest
    view = hdir.map(7, name, enc.size, digest)
    assert bytes(view) == enc.tobytes()
    got = codec.loads_view(view)
    assert np.array_equal(got, a) and not got.flags.writeable and not got.flags.owndata
