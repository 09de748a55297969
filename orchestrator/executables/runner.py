"""Running a checked command: a private directory, the sandbox, stdin in, capped stdout and stderr out.

The node's files are written into a fresh directory (mode 0700, owned by the
sandbox user; names checked again here) that is the program's working
directory, its only writable place, and removed afterwards. stdin is fed and
stdout/stderr are read together through one selector, so a program that
writes much before reading all its input does not deadlock, and nothing is
buffered without bound: past ``SLAFLOW_COMMAND_MAX_STDOUT_BYTES`` of stdout the
program is killed and the task fails saying so; of stderr only the last
``STDERR_TAIL_BYTES`` are kept (its last lines go into the error of a failed
program). Whatever stops the task (its time limit, its run's cancellation)
kills the program too: the exception reaches this loop, which kills it
(bubblewrap's ``--die-with-parent`` takes its processes with it).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
from typing import Any

from orchestrator.executables import sandbox

STDERR_TAIL_BYTES = 8 * 1024
STDERR_LINES = 10
READ_BYTES = 64 * 1024


class CommandFailed(RuntimeError):
    """The program exited with a non-zero code, wrote too much, or could not be run here."""


def as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return b"".join(as_bytes(v).rstrip(b"\n") + b"\n" for v in value)
    return json.dumps(value).encode("utf-8")


def execute(program: str, argv: list[str], stdin: Any, files: dict[str, Any], max_stdout: int) -> bytes:
    """Run ``program`` (an absolute path) with the checked ``argv`` (argv[0] its name); its stdout."""
    box = sandbox.current()
    name = argv[0]
    if box.refusal:
        raise CommandFailed(f"{name!r} was not run: {box.refusal}")
    workdir = tempfile.mkdtemp(prefix="slaflow-cmd-")
    try:
        for fname, value in files.items():
            _write(os.path.join(workdir, fname), as_bytes(value), box)
        if box.uid is not None:
            os.chown(workdir, box.uid, box.gid)
        env = sandbox.environment(workdir)
        args, switch = sandbox.as_user(sandbox.wrap(box.bwrap, workdir, [program] + argv[1:], env), box.uid, box.gid)
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            bufsize=0,
            close_fds=True,
            **switch,
        )
        try:
            out, err, over = _communicate(proc, as_bytes(stdin), max_stdout)
        except BaseException:  # the task was stopped (time limit, cancellation): so is the program
            proc.kill()
            proc.wait()
            raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if over:
        raise CommandFailed(
            f"{name!r} wrote more than {max_stdout} bytes to stdout (SLAFLOW_COMMAND_MAX_STDOUT_BYTES) and was stopped"
        )
    if proc.returncode != 0:
        tail = "\n".join(err.decode("utf-8", errors="replace").rstrip().splitlines()[-STDERR_LINES:])
        raise CommandFailed(f"{name!r} exited with code {proc.returncode}" + (f": {tail}" if tail else ""))
    return out


def _write(path: str, data: bytes, box: sandbox.Sandbox) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if box.uid is not None:
            os.fchown(fd, box.uid, box.gid)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _communicate(proc: subprocess.Popen, data: bytes, max_stdout: int) -> tuple[bytes, bytes, bool]:
    """(stdout, stderr's tail, whether stdout went over ``max_stdout`` and the program was killed)."""
    try:
        return _pump(proc, data, max_stdout)
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()


def _pump(proc: subprocess.Popen, data: bytes, max_stdout: int) -> tuple[bytes, bytes, bool]:
    out, err = bytearray(), bytearray()
    pending = memoryview(data)
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while sel.get_map():
            for key, _ in sel.select():
                stream = key.fileobj
                if stream is proc.stdin:
                    try:
                        pending = pending[os.write(stream.fileno(), pending[:READ_BYTES]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it stopped reading: the rest of stdin is not needed
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(stream)
                        stream.close()  # end of input
                    continue
                chunk = os.read(stream.fileno(), READ_BYTES)
                if not chunk:
                    sel.unregister(stream)
                    continue
                if stream is proc.stdout:
                    out += chunk
                    if len(out) > max_stdout:
                        proc.kill()
                        proc.wait()
                        return bytes(out[:max_stdout]), bytes(err), True
                else:
                    err += chunk
                    if len(err) > 2 * STDERR_TAIL_BYTES:
                        del err[:-STDERR_TAIL_BYTES]
    proc.wait()
    return bytes(out), bytes(err[-STDERR_TAIL_BYTES:]), False
