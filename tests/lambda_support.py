"""Test support for the Lambda executor: moto's server (S3, Lambda, IAM APIs) on loopback, and the
local Lambda-compatible endpoint (``workers.lambda_local``) as a process of its own."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# moto accepts any credentials; boto3 needs some to sign. Never real ones: these tests talk to loopback only.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, what: str, timeout_s: float = 60.0) -> None:
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


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def moto_server():
    """moto's server on 127.0.0.1 (a subprocess): its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **FAKE_AWS})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/moto-api/", proc, "moto's server")
        yield url
    finally:
        _stop(proc)


@contextmanager
def local_lambda(env: dict, *functions: str, keepalive_s: float = 30.0, concurrency: int = 4,
                 log_path: Path | None = None, port: int | None = None):
    """``workers.lambda_local`` as a process of its own with ``env`` (settings of the run's deployment):
    its URL. ``functions``: NAME:MEMORY_MB[:TIMEOUT_S] (default: one per SLAFLOW_LAMBDA_CONFIGS entry)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "workers.lambda_local", "--port", str(port), "--keepalive", str(keepalive_s),
           "--concurrency", str(concurrency)]
    for f in functions:
        cmd += ["--function", f]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **FAKE_AWS, **env}, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/slaflow/stats", proc, "the local Lambda endpoint")
        yield url
    finally:
        _stop(proc)
        if log_path:
            out.close()


def stats(url: str) -> dict:
    import json

    with urllib.request.urlopen(url + "/slaflow/stats", timeout=5) as reply:
        return json.loads(reply.read())
