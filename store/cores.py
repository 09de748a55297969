"""Per-host core slots: no more task bodies at once on a host than its cores.

A branch holds a *core slot* only while a task's function body runs
(``held``); waiting for an input, a handed child, a stream's next item
(``lent``) or a retry's back-off holds none, so a branch that waits never
keeps another from running and there is nothing to deadlock on. Bounded when
``SLAFLOW_EXECUTORS_WITHIN_CORES`` is on (the same setting that caps a run's
executors, ``readiness.executor_cap``) in the worker and in the run as it was
submitted (``workers.context.build_meta``), for the bodies of planned branches
of every run on the host (executors are bounded by ``readiness.executor_cap``
instead: a wait for a slot costs a poll, more than a short task).

The slots are files on the host, ``<SLAFLOW_SHM_DIR>/cores/<host id>/``:
``slot-<k>`` for k below the host's whole cores (``pools.host_cores``, at
least one). A body holds an exclusive ``flock`` on one of them. The kernel
drops a process's locks when it dies, however it dies, so a killed worker
process gives its core back at once, with nothing to expire.

Bodies that find no free slot queue, best first: each writes a waiter file
``w-<rank>-<arrival>-<pid>-<n>`` that it keeps locked while it waits, so a
waiter that died is seen (its lock can be taken) and removed. The rank is
the task's priority — the longest planned path from its start to the run's
end (``RunContext.remaining_s``, the plan's bottom level) — then arrival
(FIFO among equals, and for runs without a plan). Only the first live waiter
tries the slots; the next one follows as soon as it has one (a poll of
``POLL_S``). A body that comes while nobody waits takes a free slot at once;
it may so pass a waiter polling at that moment (by one poll at most).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from django.conf import settings

from store import pools, tiers

POLL_S = 0.001  # a waiter polls: ~20 us of listing and locking a poll, against a body delayed by up to one
STOP_EVERY_S = 0.25  # how often a waiter asks whether to give up (its run is over)
_RANK_TOP = 10**12  # ranks: _RANK_TOP − priority in ms, so the names sort best first
_seq = itertools.count()
log = logging.getLogger("slaflow.cores")
_warned = False
PLACE_TTL_S = 10.0
_places: dict[tuple, tuple[Path, int, float]] = {}  # (pid, shm dir, host id) → (slot directory, slots, when)
_local = threading.local()  # the slot this thread holds: (its file descriptor, the priority it waited with)


class Stopped(Exception):
    """``stopped()`` said so while waiting for a core."""


def enabled() -> bool:
    return bool(settings.SLAFLOW_EXECUTORS_WITHIN_CORES)


def slots() -> int:
    """Task bodies this host runs at once: its whole usable cores, at least one."""
    return max(1, int(pools.host_cores()))


def host_dir() -> Path:
    """The host's slot directory: shared by every deployment on the host (they share its cores)."""
    path = Path(settings.SLAFLOW_SHM_DIR) / "cores" / tiers.host_id().replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _slot_fd(base: Path, k: int) -> int:
    """This thread's descriptor of slot ``k``, opened once (a lock is held by an open file description:
    each thread of each process has its own, so two bodies never share one; a forked child opens its own)."""
    fds = getattr(_local, "fds", None)
    if fds is None or getattr(_local, "pid", None) != os.getpid():
        fds = _local.fds = {}
        _local.pid = os.getpid()
    path = str(base / f"slot-{k}")
    fd = fds.get(path)
    if fd is None:
        fd = fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    return fd


def _free_slot(base: Path, n: int) -> int | None:
    for k in range(n):
        fd = _slot_fd(base, k)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue
        os.pwrite(fd, f"{os.getpid():<10d}".encode(), 0)  # who holds it (``holders``)
        return fd
    return None


def _place() -> tuple[Path, int]:
    """The host's slot directory and slot count, looked up once per ``PLACE_TTL_S`` per process (each
    body asks: making the directory and reading the cores every time cost more than a no-op task)."""
    key = (os.getpid(), settings.SLAFLOW_SHM_DIR, tiers.host_id())
    now = time.monotonic()
    got = _places.get(key)
    if got is None or now - got[2] > PLACE_TTL_S:
        got = _places[key] = (host_dir(), slots(), now)
    return got[0], got[1]


def _waiters(base: Path) -> list[str]:
    return sorted(name for name in os.listdir(base) if name.startswith("w-"))


def _first_live(base: Path, names: list[str], mine: str) -> bool:
    """Whether ``mine`` is the first waiter still alive (dead ones, whose lock is free, are removed)."""
    for name in names:
        if name == mine:
            return True
        try:
            fd = os.open(base / name, os.O_RDWR)
        except FileNotFoundError:
            continue  # it took its slot meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # alive, ahead of us
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base / name)  # its process died waiting
        finally:
            os.close(fd)
    return True


def acquire(priority: float = 0.0, stopped: Callable[[], bool] | None = None) -> float:
    """Take a core slot of this host for the calling thread; returns the seconds waited for it.
    Raises ``Stopped`` when ``stopped()`` says so while waiting (asked every ``STOP_EVERY_S``)."""
    if getattr(_local, "fd", None) is not None:
        return 0.0  # held already (a nested body): one slot per thread
    try:
        base, n = _place()
    except OSError as exc:  # no writable directory here (e.g. a FaaS sandbox without /dev/shm): unbounded
        _unbounded(exc)
        return 0.0
    if not _waiters(base):
        fd = _free_slot(base, n)
        if fd is not None:
            _local.fd, _local.priority = fd, priority
            return 0.0
    t0 = time.monotonic()
    rank = _RANK_TOP - min(_RANK_TOP - 1, max(0, int(priority * 1000)))
    mine = f"w-{rank:013d}-{time.time_ns():020d}-{os.getpid():08d}-{next(_seq):06d}"
    tmp = base / f"t{mine[1:]}"
    wfd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(wfd, fcntl.LOCK_EX)  # locked before it is seen under its waiter name: never taken for dead
    os.rename(tmp, base / mine)
    asked = t0
    try:
        while True:
            if _first_live(base, _waiters(base), mine):
                fd = _free_slot(base, n)
                if fd is not None:
                    _local.fd, _local.priority = fd, priority
                    return time.monotonic() - t0
            if stopped is not None and time.monotonic() - asked >= STOP_EVERY_S:
                asked = time.monotonic()
                if stopped():
                    raise Stopped("stopped while waiting for a core")
            time.sleep(POLL_S)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(base / mine)
        os.close(wfd)


def _unbounded(exc: OSError) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("no core slots on this host (%s): task bodies are not bounded by its cores", exc)


def release() -> None:
    fd = getattr(_local, "fd", None)
    if fd is not None:
        _local.fd = None
        fcntl.flock(fd, fcntl.LOCK_UN)  # the descriptor stays open for the next body


def holding() -> bool:
    return getattr(_local, "fd", None) is not None


@contextlib.contextmanager
def held(priority: float = 0.0, stopped: Callable[[], bool] | None = None) -> Iterator[float]:
    """A core slot for the body run inside (nothing when the bound is off); yields the seconds waited."""
    if not enabled():
        yield 0.0
        return
    waited = acquire(priority, stopped)
    try:
        yield waited
    finally:
        release()


@contextlib.contextmanager
def lent() -> Iterator[None]:
    """Inside a body: give the core back while blocked on another task (e.g. a stream's next item), and
    take it again after. Nothing when this thread holds none."""
    if not holding():
        yield
        return
    priority = getattr(_local, "priority", 0.0)
    release()
    try:
        yield
    finally:
        acquire(priority)


def holders() -> list[int]:
    """The processes holding this host's slots right now (one entry per slot held)."""
    base, out = host_dir(), []
    for k in range(slots()):
        fd = _try_lock(base / f"slot-{k}")
        if fd is not None:
            os.close(fd)
            continue
        with contextlib.suppress(OSError, ValueError):
            out.append(int((base / f"slot-{k}").read_bytes()[:10] or b"0"))
    return out
