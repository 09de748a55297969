"""Host shared memory: outputs as files one host's processes map without a copy.

An output that leaves its branch and is at least ``SLAFLOW_SHM_MIN_BYTES`` is
written once, by the process that made it, into a file under the host's
shared-memory directory (``SLAFLOW_SHM_DIR``, by default ``/dev/shm/slaflow``,
a tmpfs: the file is RAM, not disk)::

    <root>/<deployment>/<run id>/<node>.<writer nonce>

``deployment`` names the Redis database the run's coordination lives in
(several deployments share a server and restart their run ids: a test
suite's run 7 is not the cluster's). The writer's nonce makes every copy's
file its own: two copies of a task (TaskDup, a redelivery) never write into
one file, and the copy whose location Redis kept is the one readers map.
A file is written under a temporary name and renamed into place, so a reader
never sees half of one; it is never changed afterwards.

A reader maps the file read-only (``mmap``): a numpy array or bytes decoded
from it share the mapping, and the kernel pages are shared by every process
of the host that maps them. Files outlive the processes that wrote them — a
worker process that dies loses nothing — and go when the run ends
(``drop_run``), or with the sweep that removes the directories of runs that
are over or older than the run TTL (``sweep``).

Checksums (xxHash3, ~10 GB/s) are taken as the file is written and checked
on every map: a file changed or cut short after it was written is a clear
error, never silently wrong data.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import xxhash

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class StoreError(RuntimeError):
    """An output the store cannot give back as written (missing, cut short, changed)."""


class OutputLost(StoreError):
    """An output whose only copy was on a host that is gone (declared dead, see ``store.locations``), or
    that its host no longer has: it can only be had again by running its task again (``workers.lineage``)."""

    def __init__(self, message: str, host: str = "", name: str = ""):
        super().__init__(message)
        self.host, self.name = host, name


def checksum(buf: Any) -> str:
    return xxhash.xxh3_64_hexdigest(buf)


def file_name(node_id: str) -> str:
    """A file name for ``node_id``'s output, unique to this writer: readable, and safe whatever the id."""
    safe = _SAFE.sub("_", node_id).lstrip(".")[:80] or "out"
    tag = hashlib.blake2b(node_id.encode(), digest_size=4).hexdigest()
    return f"{safe}-{tag}.{secrets.token_hex(6)}"


def valid_name(name: str) -> bool:
    """A file name this module made (no separators, no ``..``): what a data server agrees to serve."""
    return bool(_NAME.match(name)) and name not in (".", "..") and not name.startswith(".")


@dataclass(frozen=True)
class HostDir:
    """One host's shared-memory directory for one deployment."""

    root: Path  # e.g. /dev/shm/slaflow
    deployment: str

    @property
    def base(self) -> Path:
        return self.root / self.deployment

    def run_dir(self, run_id: int) -> Path:
        return self.base / str(int(run_id))

    def path(self, run_id: int, name: str) -> Path:
        if not valid_name(name):
            raise StoreError(f"not an output file name: {name!r}")
        return self.run_dir(run_id) / name

    def write(self, run_id: int, node_id: str, data: Any) -> tuple[str, str]:
        """Write ``data`` — a buffer, or a list or tuple of buffers written one after the other (an
        encoded output's parts, never joined first) — once as a new file of the run; (its name, its
        checksum)."""
        name = file_name(node_id)
        return name, self.write_as(run_id, name, data if isinstance(data, (list, tuple)) else [data])

    def write_as(self, run_id: int, name: str, parts: Any, expect: str | None = None) -> str:
        """Write the buffers ``parts`` as file ``name`` of the run (renamed into place when whole: readers
        never see part of it); its checksum, which must be ``expect`` when given (else nothing is kept)."""
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        final = self.path(run_id, name)
        tmp = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        digest = xxhash.xxh3_64()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        whole = False
        try:
            for part in parts:
                view = memoryview(part).cast("B")
                digest.update(view)
                while view:
                    view = view[os.write(fd, view) :]
            whole = True
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StoreError(
                    f"run {run_id}: no room for output {name} in {self.root} (a tmpfs: its size "
                    "bounds the outputs a host holds at once; see SLAFLOW_SHM_DIR)"
                ) from None
            raise
        finally:
            os.close(fd)
            if not whole:
                tmp.unlink(missing_ok=True)
        if expect is not None and digest.hexdigest() != expect:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"run {run_id}: output {name} does not match its checksum as received")
        os.replace(tmp, final)
        return digest.hexdigest()

    def exists(self, run_id: int, name: str) -> bool:
        return self.path(run_id, name).exists()

    def map(self, run_id: int, name: str, size: int, digest: str | None) -> memoryview:
        """The file, mapped read-only; its size and (when given) checksum checked first."""
        path = self.path(run_id, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise StoreError(
                f"run {run_id}: output file {path} is missing (the run ended, or its host's shared memory was cleared)"
            ) from None
        try:
            actual = os.fstat(fd).st_size
            if actual != size:
                raise StoreError(f"run {run_id}: output file {path} holds {actual} bytes, {size} were written")
            if size == 0:
                return memoryview(b"")
            mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        view = memoryview(mapped)
        if digest is not None and checksum(view) != digest:
            raise StoreError(
                f"run {run_id}: output file {path} does not match its checksum (changed or "
                "corrupted after it was written)"
            )
        return view

    def drop_run(self, run_id: int) -> bool:
        """Remove the run's files on this host; whether there were any."""
        folder = self.run_dir(run_id)
        if not folder.exists():
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def runs(self) -> list[int]:
        try:
            return [int(p.name) for p in self.base.iterdir() if p.name.isdigit()]
        except FileNotFoundError:
            return []

    def sweep(self, is_live: Callable[[int], bool], max_age_s: float, grace_s: float = 60.0) -> list[int]:
        """Remove the directories of runs that are over (``is_live`` False, and not touched for
        ``grace_s``) or older than ``max_age_s``; the runs removed."""
        removed, now = [], time.time()
        for run_id in self.runs():
            try:
                age = now - self.run_dir(run_id).stat().st_mtime
            except FileNotFoundError:
                continue
            if age > max_age_s or (age > grace_s and not is_live(run_id)):
                if self.drop_run(run_id):
                    removed.append(run_id)
        return removed
