"""Local stand-ins for AWS, as processes of their own, for tests and ``slaflow bench lambda``: the local
Lambda endpoint (``localcluster.lambda_local``) and moto's server (an S3-compatible store with the Lambda, IAM
and EC2 APIs; ``moto[server]`` is a development dependency). Both listen on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import json
import os
import time


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc, what: str, timeout_s: float = 60.0) -> None:
    import urllib.error
    import urllib.request

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers (an error page is an answer)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout_s:g} s")


def _stop_group(proc) -> None:
    import signal
    import subprocess

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextlib.contextmanager
def _serving(cmd: list[str], port: int, probe: str, what: str, env: dict, log_path=None):
    """``cmd`` as a process group of its own, once it answers on ``probe``: its URL; stopped afterwards."""
    import subprocess
    from pathlib import Path

    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + probe, proc, what)
        yield url
    finally:
        _stop_group(proc)
        if log_path:
            out.close()


def endpoint_process(
    env: dict,
    *functions: str,
    keepalive_s: float = 30.0,
    concurrency: int = 4,
    port: int | None = None,
    log_path=None,
    latency_ms: float = 0.0,
):
    """This endpoint as a process of its own with ``env`` (the deployment's settings): a context manager
    giving its URL. ``functions``: NAME:MEMORY_MB[:TIMEOUT_S] (default: one per SLAFLOW_LAMBDA_CONFIGS
    entry of ``env``)."""
    import sys

    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "localcluster.lambda_local",
        "--port",
        str(port),
        "--keepalive",
        str(keepalive_s),
        "--concurrency",
        str(concurrency),
        "--latency-ms",
        str(latency_ms),
    ]
    for f in functions:
        cmd += ["--function", f]
    return _serving(cmd, port, "/slaflow/stats", "the local Lambda endpoint", env, log_path)


def s3_server(env: dict | None = None):
    """moto's server (``moto[server]``, a development dependency) on 127.0.0.1 as a process: a context
    manager giving its URL. An S3-compatible store (and Lambda, IAM, EC2 APIs) for tests and benches;
    nothing leaves the machine."""
    import sys

    port = free_port()
    return _serving(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port,
        "/moto-api/",
        "moto's server",
        env or {},
    )


def stats(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url + "/slaflow/stats", timeout=10) as reply:
        return json.loads(reply.read())
