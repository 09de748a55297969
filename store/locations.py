"""What Redis keeps of an output held in a host's shared memory: where, how big, its checksum.

The run's outputs hash (``keys.outputs``) maps each node to what a reader
needs: a small output's encoded bytes themselves, or, for one in shared
memory, a *location record* — a marker no encoded value starts with, then
compact JSON::

    {"h": host id, "a": the host's data server ("ip:port"), "f": file name, "n": size, "c": checksum}

The record goes through the same ``HSETNX`` a value would (the first copy
stored stands), so readiness, TaskDup's "is it stored" check and clean-up do
not care which tier an output is in.

Data servers (``store.server``) announce themselves in ``keys.data_servers``
(host id → addresses) so a reader finds another server of the producing host
if the one in the record is gone (its worker process died: the host's files
did not).

**When a host is dead.** Every worker says its host is alive once a second
(``beat``, from its reaper thread; ``keys.host_beats``). A reader declares the
producing host dead — and the output lost (``shm.OutputLost``), to be
recomputed — only when both hold: its data servers cannot be reached (or the
host answers that it no longer has the file), *and* no worker of the host has
beaten for ``SLAFLOW_HOST_DEAD_S``. A slow or briefly unreachable host whose
workers still beat is not dead: the reader tries its data servers again until
the output comes or the beats stop. A partitioned host stops beating too (it
cannot reach Redis): to the others it is dead, as it is unreachable.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from store import keys
from store.redis_client import get_redis, text

MARK = b"\x00sf-loc\x00"


@dataclass(frozen=True)
class Location:
    host: str
    addr: str  # "" when the host runs no data server (readers on other hosts cannot fetch it)
    name: str
    size: int
    checksum: str

    def encode(self) -> bytes:
        body = {"h": self.host, "a": self.addr, "f": self.name, "n": self.size, "c": self.checksum}
        return MARK + json.dumps(body, separators=(",", ":")).encode()


def decode(raw: Any) -> Location | None:
    """The location in ``raw`` (an entry of the outputs hash), or None when ``raw`` is a value itself."""
    if raw is None or raw[: len(MARK)] != MARK:
        return None
    body = json.loads(bytes(raw[len(MARK) :]))
    return Location(host=body["h"], addr=body["a"], name=body["f"], size=int(body["n"]), checksum=body["c"])


def announce_server(host: str, addr: str) -> None:
    """A data server of ``host`` listens at ``addr`` (refreshed by the server while it runs)."""
    get_redis().hset(keys.data_servers(), f"{host}|{addr}", repr(time.time()))


def withdraw_server(host: str, addr: str) -> None:
    get_redis().hdel(keys.data_servers(), f"{host}|{addr}")


def servers_of(host: str, fresh_s: float = 120.0) -> list[str]:
    """The addresses of ``host``'s data servers heard from within ``fresh_s``, newest first."""
    now, found = time.time(), []
    for field, at in get_redis().hgetall(keys.data_servers()).items():
        h, _, addr = text(field).partition("|")
        if h == host and now - float(at) < fresh_s:
            found.append((float(at), addr))
    return [addr for _, addr in sorted(found, reverse=True)]


def beat(host: str, now: float | None = None) -> None:
    """A worker of ``host`` is alive (every second, from each worker's reaper)."""
    get_redis().hset(keys.host_beats(), host, repr(time.time() if now is None else now))


def last_beat(host: str) -> float | None:
    raw = get_redis().hget(keys.host_beats(), host)
    return float(raw) if raw else None


def host_dead(host: str, dead_s: float, now: float | None = None) -> bool:
    """Whether the workers of ``host`` beat once but none has for ``dead_s`` (a host never heard of is not
    known to be dead: its readers keep trying its data server, then give up with an error)."""
    at = last_beat(host)
    return at is not None and (time.time() if now is None else now) - at > dead_s


def forget_hosts(older_than_s: float = 86400.0) -> None:
    """Drop the beats of hosts not heard from for ``older_than_s`` (hosts long gone)."""
    client = get_redis()
    now = time.time()
    stale = [h for h, at in client.hgetall(keys.host_beats()).items() if now - float(at) > older_than_s]
    if stale:
        client.hdel(keys.host_beats(), *stale)
