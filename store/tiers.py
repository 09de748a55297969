"""The output store: one interface over the tiers an output may live in.

* **same process** — a branch keeps its outputs in memory and passes them
  along itself (``workers.runtime``): nothing here is involved;
* **Redis** — an output that leaves its branch and is smaller than
  ``SLAFLOW_SHM_MIN_BYTES`` goes into the run's outputs hash, as a value;
* **same host** — a bigger one is written once into the host's shared memory
  (``store.shm``) and only its location goes into that hash; a reader on the
  host maps the file: a numpy array or bytes *are* the mapped pages, read-only,
  never copied;
* **another host** — a reader elsewhere fetches the file straight from the
  producing host's data server (``store.server``), never through Redis, into
  its own host's shared memory, where the next readers of that host map it;
* **object store** — where a configuration runs on AWS Lambda (no host others
  can reach), a big output goes to an S3-compatible bucket instead
  (``store.objects``; ``SLAFLOW_OBJECT_STORE_BUCKET``), read from there by
  every reader.

``entry`` turns an encoded output (``bytes``, or a ``codec.Encoded``'s parts,
written as they are) into what the outputs hash stores (the
bytes, or a location after writing the file); ``resolve`` turns what a reader
found there back into a buffer and says which tier it came from; ``load``
decodes it (zero-copy for a mapped buffer). Which outputs travel at all is
decided elsewhere (the plan, delayed I/O, clustering, streaming): this module
decides only *how*.

``SLAFLOW_SHM_MIN_BYTES=0`` turns the shared-memory tier off (every output
that travels goes into Redis, as before it existed).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from orchestrator.core import codec
from store import keys, locations, objects
from store.locations import Location
from store.redis_client import get_redis, new_client
from store.server import DataServer, Refused, fetch
from store.shm import HostDir, OutputLost, StoreError

log = logging.getLogger("slaflow.store")

REDIS, SHM, REMOTE, OBJECT = "redis", "shm", "remote", "object"

_server: DataServer | None = None  # this host's data server, when this process (or its parent) runs one
_store: "OutputStore | None" = None


@dataclass(frozen=True)
class Fetched:
    """An output as a reader got it: its encoded buffer, and the tier it came from."""

    buf: bytes | memoryview
    tier: str

    @property
    def size(self) -> int:
        return len(self.buf)

    def load(self):
        """The value: built on the mapped buffer itself (no copy) when it is one."""
        return codec.loads_view(self.buf) if isinstance(self.buf, memoryview) else codec.loads(self.buf)


@dataclass(frozen=True)
class OutputStore:
    host: str
    hdir: HostDir
    min_bytes: int  # 0: no shared-memory tier
    networks: tuple[str, ...] = ()
    addr: str = ""
    bucket: objects.Bucket | None = None  # the object store, when one is configured (readers need it)
    object_min_bytes: int = 0  # big outputs written to the bucket from this size (0: not written there)

    def entry(self, run_id: int, node_id: str, data: "bytes | codec.Encoded") -> bytes:
        """What the outputs hash stores for ``node_id``'s encoded output ``data`` (written to shared
        memory, or to the object store, first when it is big enough). An ``Encoded`` output's parts go
        into its file as they are, never joined first (one copy: the write)."""
        if self.object_min_bytes and len(data) >= self.object_min_bytes:
            # object_min_bytes is set only with a bucket
            return cast(objects.Bucket, self.bucket).put(run_id, node_id, bytes(data)).encode()
        if not self.min_bytes or len(data) < self.min_bytes:
            return bytes(data)
        name, digest = self.hdir.write(run_id, node_id, codec.parts_of(data))
        return Location(self.host, self.addr, name, len(data), digest).encode()

    def out_of_line(self, size: int) -> bool:
        """Whether ``entry`` writes an output of ``size`` bytes out of Redis (shared memory, the bucket)."""
        return bool(
            (self.object_min_bytes and size >= self.object_min_bytes) or (self.min_bytes and size >= self.min_bytes)
        )

    def resolve_here(self, run_id: int, raw: Any) -> Fetched | None:
        """Like ``resolve``, for a reader that may do without the output (it has another copy to read, e.g.
        a run's durable result): only from this host's shared memory or the object store, never fetched
        into this host's shared memory from another's; None when it is not here or cannot be read."""
        if raw is None:
            return None
        try:
            if objects.decode(raw) is not None:
                return self.resolve(run_id, raw)
            loc = locations.decode(raw)
            if loc is None:
                return Fetched(raw, REDIS)
            if not self.hdir.exists(run_id, loc.name):
                return None
            return Fetched(self.hdir.map(run_id, loc.name, loc.size, loc.checksum), SHM)
        except StoreError as exc:  # removed meanwhile (the run ended), the bucket unreachable...
            log.info("run %s: output not read here (%s)", run_id, exc)
            return None

    def resolve(self, run_id: int, raw: Any) -> Fetched | None:
        """The output behind an entry of the outputs hash (None: not stored)."""
        if raw is None:
            return None
        obj = objects.decode(raw)
        if obj is not None:
            if self.bucket is None:
                raise StoreError(
                    f"run {run_id}: an output is in the object store, but no "
                    "SLAFLOW_OBJECT_STORE_BUCKET is configured here"
                )
            return Fetched(self.bucket.get(obj), OBJECT)
        loc = locations.decode(raw)
        if loc is None:
            return Fetched(raw, REDIS)
        if self.hdir.exists(run_id, loc.name):  # made here, or fetched here before
            return Fetched(self.hdir.map(run_id, loc.name, loc.size, loc.checksum), SHM)
        if loc.host == self.host:
            raise self._lost(run_id, loc, "this host's shared memory no longer holds it")
        self._fetch(run_id, loc)
        return Fetched(self.hdir.map(run_id, loc.name, loc.size, loc.checksum), REMOTE)

    def _fetch(self, run_id: int, loc: Location) -> None:
        """Fetch from the producing host's data servers. A host declared dead (``store.locations``: no
        worker of it beat for ``SLAFLOW_HOST_DEAD_S``) or that no longer has the file: ``OutputLost``. A
        host still beating is retried until it answers or stops beating (for at most three times that)."""
        dead_s = float(settings.SLAFLOW_HOST_DEAD_S)
        give_up = time.monotonic() + 3 * dead_s
        while True:
            if locations.host_dead(loc.host, dead_s):
                raise self._lost(run_id, loc, f"host {loc.host!r} is dead (no worker of it alive for {dead_s:g} s)")
            tried: list[str] = []
            for addr in dict.fromkeys([loc.addr] + locations.servers_of(loc.host)):
                if not addr:
                    continue
                try:
                    fetch(addr, self.hdir, run_id, loc.name, loc.size, loc.checksum, self.networks)
                    return
                except OutputLost as exc:
                    raise self._lost(run_id, loc, str(exc)) from None
                except Refused:
                    raise
                except (OSError, StoreError) as exc:
                    tried.append(f"{addr}: {exc}")
            why = "; ".join(tried) or "no data server of that host is known"
            if locations.host_dead(loc.host, dead_s):
                raise self._lost(
                    run_id, loc, f"host {loc.host!r} is dead (no worker of it alive for {dead_s:g} s; {why})"
                )
            if time.monotonic() > give_up:
                raise StoreError(
                    f"run {run_id}: output file {loc.name} of host {loc.host!r} could not be fetched "
                    f"({why}), and the host is not known to be dead"
                )
            log.info(
                "run %s: output %s of live host %s not fetched yet (%s); trying again", run_id, loc.name, loc.host, why
            )
            time.sleep(0.5)

    @staticmethod
    def _lost(run_id: int, loc: Location, why: str) -> OutputLost:
        return OutputLost(
            f"run {run_id}: output file {loc.name} of host {loc.host!r} could not be fetched and is lost: {why}",
            host=loc.host,
            name=loc.name,
        )

    def drop_run(self, run_id: int) -> None:
        """The run is over: its files go, here and (announced) on every other host."""
        self.hdir.drop_run(run_id)
        if self.bucket is not None and self.object_min_bytes:
            try:
                self.bucket.drop_run(run_id)
            except Exception:  # the bucket's lifecycle rule is the backstop (docs/howto/lambda.md)
                log.exception("run %s: could not delete its objects from bucket %s", run_id, self.bucket.name)
        get_redis().publish(keys.store_channel(), f"drop {int(run_id)}")


def deployment() -> str:
    """This deployment's directory name: its Redis database (run ids restart per deployment)."""
    return _deployment(settings.REDIS.client_url)


@functools.lru_cache(maxsize=8)
def _deployment(url: str) -> str:
    return f"db{keys.redis_db(url)}-{hashlib.blake2b(url.encode(), digest_size=4).hexdigest()}"


def host_id() -> str:
    return settings.SLAFLOW_HOST_ID or _hostname()


@functools.lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname()  # a process's host does not change under it


def local() -> OutputStore:
    """This process's store, as configured (built once: it is on every task's path; a settings change
    in tests builds it again)."""
    global _store
    if _store is None:
        bucket = None
        if settings.SLAFLOW_OBJECT_STORE_BUCKET:
            bucket = objects.Bucket(
                settings.SLAFLOW_OBJECT_STORE_BUCKET,
                settings.SLAFLOW_OBJECT_STORE_ENDPOINT_URL,
                settings.SLAFLOW_AWS_REGION,
                deployment(),
            )
        # Outputs go to the bucket once any configuration runs on Lambda: its readers share no host.
        object_min = (
            max(1, int(settings.SLAFLOW_OBJECT_STORE_MIN_BYTES)) if bucket and settings.SLAFLOW_LAMBDA_CONFIGS else 0
        )
        _store = OutputStore(
            host_id(),
            HostDir(Path(settings.SLAFLOW_SHM_DIR), deployment()),
            int(settings.SLAFLOW_SHM_MIN_BYTES),
            tuple(settings.SLAFLOW_DATA_NETWORKS),
            _server.address if _server is not None else "",
            bucket,
            object_min,
        )
    return _store


@receiver(setting_changed)
def _forget(**kwargs: Any) -> None:
    global _store
    _store = None


def is_live(run_id: int) -> bool:
    """Whether the run still has its coordination data (it is not over, nor expired)."""
    return bool(get_redis().exists(keys.meta(run_id)))


def sweep() -> list[int]:
    """Remove this host's files of runs that are over or older than the run TTL; the runs removed."""
    removed = local().hdir.sweep(is_live, float(settings.SLAFLOW_RUN_TTL_S))
    locations.forget_hosts(float(settings.SLAFLOW_RUN_TTL_S))
    if removed:
        log.info("output store: swept the files of %d ended run(s) on this host", len(removed))
    return removed


def serve() -> DataServer:
    """Start this host's data server (in a worker's main process, before its pool forks: the pool
    processes write its address into their outputs' locations), sweeping now and every minute."""
    global _server, _store
    if _server is None:
        store = local()
        _server = DataServer(store.hdir, bind=settings.SLAFLOW_HOST_ADDRESS)
        _store = None  # built again with the server's address

        def tick():
            locations.announce_server(store.host, _server.address)
            sweep()

        _server.start(every_s=60.0, tick=tick, listen=_hear_drops)
        log.info("output store: data server of host %s at %s", store.host, _server.address)
    return _server


def _hear_drops(drop: Callable[[int], object]) -> None:
    """Call ``drop(run_id)`` for each run end announced (``OutputStore.drop_run``), for ever."""
    while True:
        try:
            pubsub = new_client(socket_timeout=None).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(keys.store_channel())
            for message in pubsub.listen():
                kind, _, run = (message.get("data") or b"").decode().partition(" ")
                if kind == "drop" and run.isdigit():
                    drop(int(run))
        except Exception as exc:  # Redis went away: listen again once it is back
            log.warning("output store: lost the run-end subscription (%r); retrying", exc)
            time.sleep(1.0)
