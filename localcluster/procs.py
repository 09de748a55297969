"""Child-process helpers: children that die with their parent and stop as a group."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Run in the child before exec: get SIGTERM when the parent dies (no orphans)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def spawn(cmd: list[str], *, env: dict, cwd: str, log_path: str) -> subprocess.Popen:
    log = open(log_path, "ab", buffering=0)
    # Own session: Ctrl-C in the terminal reaches only the parent, which stops children in order.
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def stop(proc: subprocess.Popen, *, grace_s: float = 10.0, first: int = signal.SIGTERM) -> None:
    """Ask politely, then kill the whole process group (pool children included)."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, first)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace_s
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def signal_group(pid: int, sig: int) -> None:
    """Signal a child's whole process group (it leads its own session: ``spawn``)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as fh:
            return b"".join(fh.readlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""
