"""Where a command's program runs: an unprivileged user, a minimal environment, and a sandbox when there is one.

* **User.** A worker running as root runs programs as ``SLAFLOW_COMMAND_USER``
  (``uid:gid``, default ``65534:65534``, *nobody*), without supplementary
  groups. A worker that is not root runs them as itself.
* **Environment.** Only ``PATH`` (the trusted one), ``LANG=C.UTF-8``, and
  ``HOME``/``TMPDIR`` = the task's private directory: nothing of the worker's
  (no ``DJANGO_SECRET_KEY``, ``DATABASE_URL``, ``REDIS_URL``).
* **Sandbox** (``SLAFLOW_COMMAND_SANDBOX``): ``bwrap`` runs the program under
  bubblewrap, started as that user: every namespace unshared (no network, its
  own PIDs and a ``/proc`` of its own, so no other process's environment is
  visible), the root file system read-only, a fresh ``/tmp``, only the task's
  directory writable, the environment cleared, killed with its parent.
  ``auto`` (the default) uses bwrap when a probe shows it works here
  (bubblewrap installed, user namespaces allowed; a failing probe is tried
  again, and its failure believed for ``RETRY_AFTER_S`` only) and otherwise runs without,
  saying so: a warning when the worker starts and ``sandbox`` on every command
  task's record. ``none`` never sandboxes. In production mode running without
  a sandbox needs ``SLAFLOW_COMMAND_ALLOW_UNSANDBOXED=1``: without it
  ``none`` is refused at start and ``auto`` without a working bwrap fails
  command tasks with the reason. A worker that is neither root nor able to
  sandbox makes itself non-dumpable, so that its programs (running as its own
  user) cannot read its ``/proc/<pid>/environ``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

from orchestrator.core.commands.argv import TRUSTED_PATH

log = logging.getLogger("slaflow.executables")

PROBE_TIMEOUT_S = 10.0
# A probe of an installed bubblewrap that fails is tried again (a loaded host can make one fail: namespace
# creation stalls behind others being torn down), and a failure is believed only for a while: an auto
# sandbox that fell back is probed again after RETRY_AFTER_S, where a working one is kept for good.
PROBE_ATTEMPTS = 3
PROBE_PAUSE_S = 1.0
RETRY_AFTER_S = 60.0
PR_SET_DUMPABLE = 4  # prctl(2)


@dataclass(frozen=True)
class Sandbox:
    """How this process runs programs; ``refusal`` set: it does not run them, and says why."""

    bwrap: str | None  # the bubblewrap binary, or None: no sandbox
    uid: int | None  # switch to this user (the worker is root), or None: run as the worker's user
    gid: int | None
    detail: str  # why this sandbox (or none)
    refusal: str = ""

    def describe(self) -> str:
        who = f"uid {self.uid}" if self.uid is not None else f"the worker's uid {os.geteuid()}"
        if self.refusal:
            return f"refused: {self.refusal}"
        return f"bwrap, as {who}" if self.bwrap else f"NONE ({self.detail}), as {who}"


_known: dict[tuple, tuple[Sandbox, float | None]] = {}  # settings → (sandbox, believed until; None: for good)
BWRAP_FAILED = "bwrap cannot run here"


def current() -> Sandbox:
    from django.conf import settings

    key = (
        settings.SLAFLOW_COMMAND_SANDBOX,
        settings.SLAFLOW_COMMAND_USER,
        bool(settings.SLAFLOW_COMMAND_ALLOW_UNSANDBOXED),
        settings.MODE,
        TRUSTED_PATH,
    )
    known = _known.get(key)
    if known is not None and (known[1] is None or time.monotonic() < known[1]):
        return known[0]
    box = _probe(*key[:4])
    retry = box.bwrap is None and box.detail.startswith(BWRAP_FAILED)  # installed, but failed: probe again later
    _known[key] = (box, time.monotonic() + RETRY_AFTER_S if retry else None)
    return box


def forget() -> None:
    """Probe again on the next command (settings changed: tests)."""
    _known.clear()


def _probe(mode: str, user: tuple[int, int], allow_unsandboxed: bool, site_mode: str) -> Sandbox:
    uid, gid = user if os.geteuid() == 0 else (None, None)
    if mode == "none":
        return Sandbox(None, uid, gid, "SLAFLOW_COMMAND_SANDBOX=none")
    binary = shutil.which("bwrap", path=TRUSTED_PATH)
    why = trial(binary, uid, gid) if binary else f"bwrap not found on {TRUSTED_PATH} (apt-get install bubblewrap)"
    if not why:
        return Sandbox(binary, uid, gid, "bubblewrap works here")
    if mode == "bwrap":
        return Sandbox(None, uid, gid, why, refusal=f"SLAFLOW_COMMAND_SANDBOX=bwrap but {why}")
    if site_mode == "production" and not allow_unsandboxed:
        return Sandbox(
            None,
            uid,
            gid,
            why,
            refusal=f"no sandbox for command tasks in production mode ({why}); "
            "install bubblewrap or set SLAFLOW_COMMAND_ALLOW_UNSANDBOXED=1",
        )
    return Sandbox(None, uid, gid, why)


def trial(binary: str, uid: int | None, gid: int | None) -> str:
    """'' when bubblewrap can run a program here as the sandbox user, else why not (after
    ``PROBE_ATTEMPTS`` tries, each logged)."""
    why = ""
    for attempt in range(1, PROBE_ATTEMPTS + 1):
        why = _try_bwrap(binary, uid, gid)
        if not why:
            return ""
        log.warning("bubblewrap probe %d/%d failed: %s", attempt, PROBE_ATTEMPTS, why)
        if attempt < PROBE_ATTEMPTS:
            time.sleep(PROBE_PAUSE_S)
    return why


def _try_bwrap(binary: str, uid: int | None, gid: int | None) -> str:
    """'' when bubblewrap ran a program here as the sandbox user once, else why not."""
    workdir = tempfile.mkdtemp(prefix="slaflow-probe-")
    try:
        if uid is not None:
            os.chown(workdir, uid, gid)
        argv, switch = as_user(wrap(binary, workdir, ["/bin/true"], environment(workdir)), uid, gid)
        proc = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_S, env=environment(workdir), **switch)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{BWRAP_FAILED}: {exc}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
        return f"{BWRAP_FAILED}: {err[-1] if err else f'exit code {proc.returncode}'}"
    return ""


def environment(workdir: str) -> dict[str, str]:
    """All a program's environment: nothing of the worker's."""
    return {"PATH": TRUSTED_PATH, "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}


def wrap(binary: str | None, workdir: str, argv: list[str], env: dict[str, str]) -> list[str]:
    """The argv that runs ``argv`` in the sandbox (``argv`` itself without one). The sandbox's ``/tmp`` is
    fresh: a program the operator listed by a path under ``/tmp`` is bound into it, read-only, at its path
    (only that file: its neighbours stay hidden)."""
    if binary is None:
        return argv
    setenv = [part for key, value in env.items() for part in ("--setenv", key, value)]
    program = argv[0] if argv and os.path.isabs(argv[0]) else ""
    # ... and the directories bwrap made on the way to it are no place to write: /tmp read-only (the task's
    # directory is a mount of its own, and stays writable).
    under_tmp = (
        ["--ro-bind", program, program, "--remount-ro", "/tmp"] if os.path.normpath(program).startswith("/tmp/") else []
    )
    return [
        binary,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        *setenv,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--bind",
        workdir,
        workdir,
        *under_tmp,
        "--chdir",
        workdir,
        "--",
        *argv,
    ]


def as_user(argv: list[str], uid: int | None, gid: int | None) -> tuple[list[str], dict]:
    """(argv, Popen's extra arguments) that start ``argv`` as the sandbox user (unchanged when the worker is
    not root). util-linux's ``setpriv`` switches user, group and groups and sets no-new-privileges (it cannot
    gain privileges through a setuid program); without it Popen switches them itself, which makes it fork the
    whole worker process instead of spawning (measured 15 ms against 6 ms a program)."""
    if uid is None:
        return argv, {}
    setpriv = shutil.which("setpriv", path=TRUSTED_PATH)
    if setpriv:
        return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs", "--", *argv], {}
    return argv, {"user": uid, "group": gid, "extra_groups": []}


def shield_worker() -> bool:
    """Without a sandbox and without root, a program runs as the worker's own user, who may read the
    worker's ``/proc/<pid>/environ``: make this process (and the pool processes it forks) non-dumpable, so
    that its ``/proc`` entries are root's and same-user processes cannot read them. True when it did."""
    box = current()
    if box.bwrap is not None or box.uid is not None:
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("cannot make the worker non-dumpable: errno %s", ctypes.get_errno())
        return False
    return True


def announce() -> None:
    """Say at a worker's start how its command tasks will run; loudly when without a sandbox."""
    box = current()
    if box.refusal:
        log.error("!!! command tasks will FAIL on this worker: %s", box.refusal)
    elif box.bwrap is None:
        log.warning(
            "!!! command tasks run WITHOUT a sandbox on this worker (%s): %s%s",
            box.detail,
            box.describe(),
            ""
            if box.uid is not None
            else ", the worker's own user: only the option allow-lists and the "
            "minimal environment protect it (its /proc is hidden by making it non-dumpable)",
        )
    else:
        log.info("command tasks run sandboxed: %s", box.describe())
