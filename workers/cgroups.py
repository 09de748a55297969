"""Making a resource configuration real: each pool process in its own cgroup.

The local cluster starts one Celery worker per configuration with
``SLAFLOW_WORKER_MEMORY_MB`` set; every pool process, when it starts, moves
itself into a cgroup with that configuration's CPU quota (``cpus`` of one CPU)
and memory limit. cgroup v2 (``cpu.max``/``memory.max``) and v1
(``cpu.cfs_quota_us``/``memory.limit_in_bytes``) are both supported. Where no
cgroup is writable the process says so loudly and every record it writes is
marked ``enforced: false``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.resources import ResourceConfig

log = logging.getLogger("slaflow.cgroups")

ROOT = Path(os.environ.get("SLAFLOW_CGROUP_ROOT", "/sys/fs/cgroup"))
GROUP = "slaflow"
# The quota is enforced per period: with the default 100 ms, a task needing 100 ms of CPU at 0.57
# CPU ends after one or two periods depending on where it starts (measured: 107 vs 197 ms, the
# largest source of run-to-run noise in image_transformer). A 10 ms period smooths that out.
PERIOD_US = 10_000


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpus: float
    enforced: bool
    pid: int
    detail: str = ""


_current: Limits | None = None


def worker_memory_mb() -> int | None:
    raw = os.environ.get("SLAFLOW_WORKER_MEMORY_MB")
    return int(raw) if raw else None


def current() -> Limits:
    """This process's configuration and whether its limits are enforced."""
    global _current
    if _current is None or _current.pid != os.getpid():
        from orchestrator.core import resources

        mb = worker_memory_mb() or resources.default().memory_mb
        cfg = ResourceConfig(mb)
        _current = Limits(mb, cfg.cpus, False, os.getpid(), "not applied in this process")
    return _current


def declare(memory_mb: int, detail: str) -> Limits:
    """This process's limits are enforced from outside it (an AWS Lambda function's memory size)."""
    global _current
    _current = Limits(memory_mb, ResourceConfig(memory_mb).cpus, True, os.getpid(), detail)
    return _current


def _own_path(controller: str) -> str:
    """This process's cgroup path in a v1 hierarchy (or v2 with controller '')."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(",") or (controller == "" and ctrls == ""):
                return path
    except OSError:
        pass
    return "/"


def _v2_root() -> Path | None:
    for candidate in (ROOT, ROOT / "unified"):
        if (candidate / "cgroup.controllers").exists():
            return candidate
    return None


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _apply_v1(cfg: ResourceConfig, name: str) -> str:
    cpu_dir = ROOT / "cpu" / _own_path("cpu").lstrip("/") / GROUP / name
    mem_dir = ROOT / "memory" / _own_path("memory").lstrip("/") / GROUP / name
    if not (ROOT / "cpu" / "cpu.cfs_quota_us").exists() or not (ROOT / "memory").is_dir():
        raise OSError("cgroup v1 cpu/memory controllers are not mounted")
    cpu_dir.mkdir(parents=True, exist_ok=True)
    mem_dir.mkdir(parents=True, exist_ok=True)
    _write(cpu_dir / "cpu.cfs_period_us", str(PERIOD_US))
    _write(cpu_dir / "cpu.cfs_quota_us", str(max(1000, int(cfg.cpus * PERIOD_US))))
    _write(mem_dir / "memory.limit_in_bytes", str(cfg.memory_mb * 1024 * 1024))
    pid = str(os.getpid())
    _write(cpu_dir / "cgroup.procs", pid)
    _write(mem_dir / "cgroup.procs", pid)
    return f"v1 {cpu_dir} + {mem_dir}"


def _apply_v2(root: Path, cfg: ResourceConfig, name: str) -> str:
    base = root / _own_path("").lstrip("/")
    parent = base / GROUP
    parent.mkdir(exist_ok=True)
    for level in (base, parent):
        controllers = (level / "cgroup.controllers").read_text().split()
        if "cpu" not in controllers or "memory" not in controllers:
            raise OSError(f"{level} does not offer the cpu and memory controllers")
    _write(parent / "cgroup.subtree_control", "+cpu +memory")
    group = parent / name
    group.mkdir(exist_ok=True)
    _write(group / "cpu.max", f"{max(1000, int(cfg.cpus * PERIOD_US))} {PERIOD_US}")
    _write(group / "memory.max", str(cfg.memory_mb * 1024 * 1024))
    _write(group / "cgroup.procs", str(os.getpid()))
    return f"v2 {group}"


def apply(memory_mb: int) -> Limits:
    """Put this process under ``memory_mb``'s limits (called in each new pool process)."""
    global _current
    cfg = ResourceConfig(memory_mb)
    name = f"rc{memory_mb}-{os.getpid()}"
    from django.conf import settings

    if os.environ.get("SLAFLOW_CONTAINER_LIMITS") == "1":
        # docker-compose: the container's cpus/mem_limit are this configuration.
        _current = Limits(memory_mb, cfg.cpus, True, os.getpid(), "container cpus/mem_limit")
        return _current
    if not settings.SLAFLOW_ENFORCE_RESOURCES:
        _current = Limits(memory_mb, cfg.cpus, False, os.getpid(), "disabled by SLAFLOW_ENFORCE_RESOURCES")
        return _current
    errors = []
    v2 = _v2_root()
    attempts = ([lambda: _apply_v2(v2, cfg, name)] if v2 and v2 == ROOT else []) + [lambda: _apply_v1(cfg, name)]
    if v2 and v2 != ROOT:
        attempts.append(lambda: _apply_v2(v2, cfg, name))
    for attempt in attempts:
        try:
            detail = attempt()
            _current = Limits(memory_mb, cfg.cpus, True, os.getpid(), detail)
            return _current
        except OSError as exc:
            errors.append(str(exc))
    detail = "; ".join(errors) or "no cgroup hierarchy found"
    log.warning("!!! resource limits NOT enforced for %s MB (pid %s): %s", memory_mb, os.getpid(), detail)
    _current = Limits(memory_mb, cfg.cpus, False, os.getpid(), detail)
    return _current


def probe() -> tuple[bool, str]:
    """Can this machine enforce limits? Tries a throwaway cgroup (for the cluster's banner)."""
    v2 = _v2_root()
    if v2 == ROOT:
        parent = v2 / _own_path("").lstrip("/")
        ok = os.access(parent, os.W_OK) and "cpu" in (parent / "cgroup.controllers").read_text()
        return ok, f"cgroup v2 at {parent}"
    cpu = ROOT / "cpu" / _own_path("cpu").lstrip("/")
    mem = ROOT / "memory" / _own_path("memory").lstrip("/")
    if (cpu / "cpu.cfs_quota_us").exists() and mem.is_dir():
        probe_dir = cpu / GROUP / f"probe-{os.getpid()}"
        try:
            probe_dir.mkdir(parents=True, exist_ok=True)
            probe_dir.rmdir()
            return os.access(mem, os.W_OK), f"cgroup v1 at {cpu} and {mem}"
        except OSError as exc:
            return False, f"cgroup v1 not writable: {exc}"
    return False, "no writable cgroup v1 or v2 hierarchy with cpu and memory controllers"


def sweep() -> int:
    """Remove empty per-process cgroups left by exited pool processes."""
    removed = 0
    dirs = [
        ROOT / "cpu" / _own_path("cpu").lstrip("/") / GROUP,
        ROOT / "memory" / _own_path("memory").lstrip("/") / GROUP,
    ]
    v2 = _v2_root()
    if v2:
        dirs.append(v2 / _own_path("").lstrip("/") / GROUP)
    for parent in dirs:
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            if child.is_dir() and child.name.startswith("rc"):
                try:
                    if not (child / "cgroup.procs").read_text().strip():
                        child.rmdir()
                        removed += 1
                except OSError:
                    pass
    return removed


def _parents() -> list[Path]:
    """The directories holding the per-process groups (from a pool process inside one, or from outside)."""

    def base(controller: str) -> str:
        own = _own_path(controller)
        marker = f"/{GROUP}/"
        return own.split(marker)[0] if marker in own else own

    out = [ROOT / "memory" / base("memory").lstrip("/") / GROUP]
    v2 = _v2_root()
    if v2:
        out.append(v2 / base("").lstrip("/") / GROUP)
    return out


def oom_killed(pid: int, memory_mb: int) -> bool:
    """Whether the kernel killed pool process ``pid`` of ``memory_mb`` for memory (its group is kept
    until the next sweep)."""
    name = f"rc{memory_mb}-{pid}"
    for parent in _parents():
        group = parent / name
        for events, field in ((group / "memory.events", "oom_kill"), (group / "memory.oom_control", "oom_kill")):
            try:
                for line in events.read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == field and value.strip().isdigit() and int(value) > 0:
                        return True
            except OSError:
                continue
    return False


# glibc's malloc, left to itself, raises its mmap threshold to the size of every big block freed (up to
# 32 MB), so later 8 MB arrays come from the heap, whose freed tops it keeps: a pool process that lives
# across many runs grew by hundreds of MB it no longer used, all counted against its memory limit. Fixed
# thresholds keep big blocks mapped (unmapped when freed) and the heap's free top trimmed.
MMAP_THRESHOLD = 1 << 20
TRIM_THRESHOLD = 1 << 17
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def return_freed_memory() -> bool:
    """Make this process give freed memory back to the system (glibc only; False elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators do not keep it this way
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok)
