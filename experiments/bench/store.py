"""``bench store``: what one big output costs in each tier of the output store, on this host.

One numpy output of ``size_mb`` MB (float64), encoded as the runtime encodes
it, then ``repeat`` times each:

* **Redis**: the value stored in and read back from the run's outputs hash,
  decoded as the runtime did before the store (a copy);
* **shared memory**: written into the host's shared memory by the store
  (``store.tiers``: file + checksum), then resolved and decoded by a reader
  as the runtime does — the array is the mapped file (no copy is asserted:
  its buffer is not its own, not writeable, and it shares memory with the
  mapping);
* **another host, over loopback**: fetched from a data server
  (``store.server``) into a second host directory, checked, then mapped.

Reported per tier: median milliseconds per MB with min–max, and whether
the reader got a copy. Measured, never asserted by tests.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from orchestrator.core import codec
from store import keys, locations, tiers
from store.redis_client import get_redis
from store.server import DataServer
from store.shm import HostDir

RUN_ID = 999_999_001  # a run id no deployment reaches: its files and keys are removed at the end


def _spread(samples: list[float], mb: float) -> dict:
    per_mb = [s * 1000 / mb for s in samples]
    return {
        "ms_per_mb": round(statistics.median(per_mb), 4),
        "min": round(min(per_mb), 4),
        "max": round(max(per_mb), 4),
        "runs": len(per_mb),
    }


def _timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    out, last = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        last = fn()
        out.append(time.perf_counter() - t0)
    return out, last


def bench(size_mb: int = 64, repeat: int = 5, progress: Callable[[str], None] = lambda label: None) -> list[dict]:
    array = np.random.default_rng(1).standard_normal(size_mb * (1 << 20) // 8)
    data = codec.dumps(array)
    mb = len(data) / (1 << 20)
    client, store = get_redis(), tiers.local()
    shm_store = tiers.OutputStore(store.host, store.hdir, 1, store.networks, store.addr)  # every output to shm
    rows = []
    try:
        progress("redis")

        def redis_put():
            client.hdel(keys.outputs(RUN_ID), "x")
            client.hset(keys.outputs(RUN_ID), "x", data)

        put_s, _ = _timed(redis_put, repeat)
        get_s, value = _timed(lambda: codec.loads(client.hget(keys.outputs(RUN_ID), "x")), repeat)
        rows.append(
            {
                "tier": "redis",
                "write": _spread(put_s, mb),
                "read": _spread(get_s, mb),
                "copy": bool(value.flags.owndata),
                "equal": bool(np.array_equal(value, array)),
            }
        )
        progress("shared memory")
        write_s, entry = _timed(lambda: shm_store.entry(RUN_ID, "x", data), repeat)
        read_s, value = _timed(lambda: shm_store.resolve(RUN_ID, entry).load(), repeat)
        got = shm_store.resolve(RUN_ID, entry)
        shared = np.shares_memory(got.load(), np.frombuffer(got.buf, dtype=np.uint8))
        rows.append(
            {
                "tier": "shm",
                "write": _spread(write_s, mb),
                "read": _spread(read_s, mb),
                "copy": bool(value.flags.owndata or value.flags.writeable or not shared),
                "equal": bool(np.array_equal(value, array)),
            }
        )
        progress("another host over loopback")
        rows.append(_loopback(store, entry, array, mb, repeat))
    finally:
        client.delete(keys.outputs(RUN_ID))
        store.hdir.drop_run(RUN_ID)
    return rows


def _loopback(store: tiers.OutputStore, entry: bytes, array, mb: float, repeat: int) -> dict:
    """Fetch the shared-memory copy from a data server into another host directory, ``repeat`` times."""
    server = DataServer(store.hdir).start()
    try:
        with tempfile.TemporaryDirectory(prefix="slaflow-bench-", dir="/dev/shm") as tmp:
            # The same file, as made on host "bench-source" with its server: a reader elsewhere fetches it.
            loc = locations.decode(entry)
            remote = locations.Location("bench-source", server.address, loc.name, loc.size, loc.checksum).encode()
            samples, value = [], None
            for k in range(repeat):
                reader = tiers.OutputStore(
                    f"bench-reader-{k}", HostDir(Path(tmp) / str(k), store.hdir.deployment), 1, store.networks
                )
                t0 = time.perf_counter()
                got = reader.resolve(RUN_ID, remote)
                value = got.load()
                samples.append(time.perf_counter() - t0)
            med = statistics.median(samples)
            return {
                "tier": "remote (loopback)",
                "read": _spread(samples, mb),
                "gb_per_s": round(mb / 1024 / med, 3),
                "copy": bool(value.flags.owndata),
                "equal": bool(np.array_equal(value, array)),
            }
    finally:
        server.stop()


# --- between simulated hosts (bench store --hosts 2) ----------------------------------------------

_IN_HOST = (
    "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'orchestrator.settings'); "
    "django.setup(); from experiments.bench import store; store.{}"
)


def across_hosts(harness, size_mb: int = 64, repeat: int = 5) -> dict:
    """One output written on the first host (into its shared memory, its worker's data server serving it),
    fetched ``repeat`` times by a reader on the second host into fresh directories of its own shared
    memory, checked and mapped: the store's real path between two hosts, over their veth link."""
    import json
    import sys

    a, b = harness.hosts[:2]
    env_a, env_b = a.cluster.child_env(), b.cluster.child_env()
    wrote = a.run([sys.executable, "-c", _IN_HOST.format(f"write_here({size_mb})")], timeout_s=120, env=env_a)
    if wrote.returncode:
        raise RuntimeError(f"writing on {a.hostname} failed: {wrote.stderr[-2000:]}")
    entry = wrote.stdout.strip().splitlines()[-1]
    try:
        read = b.run(
            [sys.executable, "-c", _IN_HOST.format(f"fetch_here({entry!r}, {size_mb}, {repeat})")],
            timeout_s=600,
            env=env_b,
        )
        if read.returncode:
            raise RuntimeError(f"fetching on {b.hostname} failed: {read.stderr[-2000:]}")
        row = json.loads(read.stdout.strip().splitlines()[-1])
    finally:
        a.run([sys.executable, "-c", _IN_HOST.format("drop_here()")], timeout_s=60, env=env_a)
    return {"tier": f"remote ({a.hostname} → {b.hostname})", **row}


def _array(size_mb: int):
    return np.random.default_rng(1).standard_normal(size_mb * (1 << 20) // 8)


def write_here(size_mb: int) -> None:
    """(In the first host) the output into this host's shared memory; prints its location entry (hex)."""
    entry = tiers.local().entry(RUN_ID, "x", codec.dumps(_array(size_mb)))
    print(entry.hex())


def fetch_here(entry_hex: str, size_mb: int, repeat: int) -> None:
    """(In the second host) fetch it ``repeat`` times into fresh directories; prints the timings (JSON)."""
    import json

    store, entry, array = tiers.local(), bytes.fromhex(entry_hex), _array(size_mb)
    mb = locations.decode(entry).size / (1 << 20)
    samples, value = [], None
    with tempfile.TemporaryDirectory(prefix="slaflow-bench-", dir="/dev/shm") as tmp:
        for k in range(repeat):
            reader = tiers.OutputStore(
                store.host, HostDir(Path(tmp) / str(k), store.hdir.deployment), 1, store.networks
            )
            t0 = time.perf_counter()
            value = reader.resolve(RUN_ID, entry).load()
            samples.append(time.perf_counter() - t0)
    med = statistics.median(samples)
    print(
        json.dumps(
            {
                "read": _spread(samples, mb),
                "gb_per_s": round(mb / 1024 / med, 3),
                "gb_per_s_range": [round(mb / 1024 / max(samples), 3), round(mb / 1024 / min(samples), 3)],
                "copy": bool(value.flags.owndata),
                "equal": bool(np.array_equal(value, array)),
            }
        )
    )


def drop_here() -> None:
    tiers.local().hdir.drop_run(RUN_ID)
