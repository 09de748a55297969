"""A local Lambda-compatible invoke endpoint: real branches through the Lambda executor, no AWS.

An HTTP server speaking Lambda's Invoke API (``POST /2015-03-31/functions/<name>/invocations``, the
``X-Amz-Invocation-Type`` header ``Event`` or ``RequestResponse``), so boto3 with ``endpoint_url`` (the
executor's ``SLAFLOW_LAMBDA_ENDPOINT_URL``) invokes it as it would AWS. Each function (by default one per
configuration on the Lambda executor, ``router.function_for``) runs its invocations in *execution
environments*: handler processes (``workers.lambda_handler``) started fresh with ``spawn``, each under its
configuration's memory and CPU limits (``workers.cgroups``). Like Lambda:

* an invocation takes an idle environment that was used within the keep-alive window (**warm**), else
  starts a new one (**cold**: a new interpreter imports slaflow, Django and the task code); an idle
  environment past the window is stopped;
* at most ``concurrency`` environments of a function run at once: ``Event`` invocations beyond it wait
  in the function's queue, ``RequestResponse`` ones are refused with 429 (TooManyRequestsException);
* an invocation still running after the function's timeout is stopped with its environment
  ("Task timed out"), and one whose process died (out of memory) fails the same way.

``GET /slaflow/stats`` answers what happened per function (cold and warm starts, timeouts, deaths,
throttles, the most environments running at once): what the tests and ``slaflow bench lambda`` read.
It listens on loopback; it is a development and test tool, not a production service.

    python -m localcluster.lambda_local --port 9001 [--function NAME:MEMORY_MB[:TIMEOUT_S]] ...
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

log = logging.getLogger("slaflow.lambda_local")

PATH_PREFIX = "/2015-03-31/functions/"
INIT_TIMEOUT_S = 60.0  # an environment's start (the handler module's import); Lambda allows 10 s on AWS


def _environment_main(conn, name: str, memory_mb: int, timeout_s: float) -> None:
    """An execution environment: under the configuration's limits, import the handler (the init phase),
    say so, then run the invocations it is sent, one at a time, until the pipe closes."""
    os.environ.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout_s)),
            "SLAFLOW_WORKER_MEMORY_MB": str(memory_mb),
            "SLAFLOW_LAMBDA_LOCAL": "1",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    from workers import cgroups

    limits = cgroups.apply(memory_mb)  # first: the whole start (Django, slaflow, task code) runs under the limits
    from workers import lambda_handler  # sets Django up

    conn.send(("ready", {"pid": os.getpid(), "enforced": limits.enforced, "detail": limits.detail}))
    while True:
        try:
            event, deadline = conn.recv()
        except (EOFError, OSError):
            return
        context = _Context(name, memory_mb, deadline)
        try:
            conn.send(("ok", lambda_handler.handler(event, context)))
        except Exception as exc:  # an unhandled error of the function, as Lambda reports it
            conn.send(
                (
                    "error",
                    {
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "stackTrace": traceback.format_exc().splitlines(),
                    },
                )
            )


@dataclass
class _Context:
    function_name: str
    memory_limit_in_mb: int
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


class Environment:
    """One handler process of a function."""

    def __init__(self, fn: "Function"):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_environment_main,
            args=(child, fn.name, fn.memory_mb, fn.timeout_s),
            daemon=True,
            name=f"lambda-{fn.name}",
        )
        self.proc.start()
        child.close()
        self.last_used = time.monotonic()
        self.info: dict = {}
        if not self.conn.poll(INIT_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"{fn.name}: the environment did not start within {INIT_TIMEOUT_S:g} s")
        try:
            kind, self.info = self.conn.recv()
        except EOFError:
            self.stop()
            raise RuntimeError(f"{fn.name}: the environment died while starting (exit {self.proc.exitcode})") from None

    def invoke(self, event: dict, timeout_s: float) -> tuple[str, dict]:
        self.conn.send((event, time.time() + timeout_s))
        if not self.conn.poll(timeout_s):
            self.stop()
            return "timeout", {
                "errorType": "TimeoutError",
                "errorMessage": f"Task timed out after {timeout_s:.2f} seconds",
            }
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.stop()
            return "died", {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"the environment's process exited (code {self.proc.exitcode})",
            }

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class Throttled(RuntimeError):
    pass


@dataclass
class Function:
    name: str
    memory_mb: int
    timeout_s: float
    concurrency: int
    keepalive_s: float
    idle: list = field(default_factory=list)  # Environments, least recently used first
    pending: deque = field(default_factory=deque)
    running: int = 0
    stats: dict = field(
        default_factory=lambda: {
            "invocations": 0,
            "cold": 0,
            "warm": 0,
            "timeouts": 0,
            "died": 0,
            "errors": 0,
            "throttled": 0,
            "max_running": 0,
            "cold_start_s": [],
        }
    )

    def __post_init__(self):
        self.cond = threading.Condition()
        self._stopping = False
        threading.Thread(target=self._dispatch, daemon=True, name=f"dispatch-{self.name}").start()

    def submit(self, event: dict, sync: bool) -> Future:
        fut: Future = Future()
        with self.cond:
            if sync and self.running + len(self.pending) >= self.concurrency:
                self.stats["throttled"] += 1
                raise Throttled(f"Rate Exceeded: {self.name} is running {self.concurrency} invocations")
            self.stats["invocations"] += 1
            self.pending.append((event, fut))
            self.cond.notify_all()
        return fut

    def _dispatch(self) -> None:
        while True:
            with self.cond:
                while not self._stopping and not (self.pending and self.running < self.concurrency):
                    self.cond.wait(0.5)
                    self._reap()
                if self._stopping:
                    return
                event, fut = self.pending.popleft()
                self.running += 1
                self.stats["max_running"] = max(self.stats["max_running"], self.running)
                env = self._take_idle()
            threading.Thread(target=self._run, args=(env, event, fut), daemon=True).start()

    def _take_idle(self):
        """The most recently used idle environment still within the keep-alive window (under the lock)."""
        self._reap()
        return self.idle.pop() if self.idle else None

    def _reap(self) -> None:
        now = time.monotonic()
        keep = []
        for env in self.idle:
            if now - env.last_used > self.keepalive_s or not env.alive:
                env.stop()
            else:
                keep.append(env)
        self.idle[:] = keep

    def _run(self, env, event: dict, fut: Future) -> None:
        outcome: tuple[str, dict]
        try:
            if env is None:
                t0 = time.perf_counter()
                env = Environment(self)
                with self.cond:
                    self.stats["cold"] += 1
                    self.stats["enforced"] = env.info.get("enforced")
                    self.stats["cold_start_s"].append(round(time.perf_counter() - t0, 4))
            else:
                with self.cond:
                    self.stats["warm"] += 1
            outcome = env.invoke(event, self.timeout_s)
        except Exception as exc:
            outcome, env = ("died", {"errorType": type(exc).__name__, "errorMessage": str(exc)}), None
        kind = outcome[0]
        with self.cond:
            self.running -= 1
            if kind in ("timeout", "died"):
                self.stats["timeouts" if kind == "timeout" else "died"] += 1
            elif kind == "error":
                self.stats["errors"] += 1
            if env is not None and env.alive and kind in ("ok", "error"):
                env.last_used = time.monotonic()
                self.idle.append(env)
            self.cond.notify_all()
        if kind != "ok":
            log.warning("%s: invocation %s: %s", self.name, kind, outcome[1].get("errorMessage"))
        fut.set_result(outcome)

    def stop(self) -> None:
        with self.cond:
            self._stopping = True
            for env in self.idle:
                env.stop()
            self.idle.clear()
            self.cond.notify_all()

    def snapshot(self) -> dict:
        with self.cond:
            return {
                **self.stats,
                "cold_start_s": list(self.stats["cold_start_s"]),
                "running": self.running,
                "pending": len(self.pending),
                "idle": len(self.idle),
                "memory_mb": self.memory_mb,
                "timeout_s": self.timeout_s,
                "concurrency": self.concurrency,
            }


class LocalLambda:
    """The endpoint: functions by name, served over HTTP on loopback."""

    def __init__(self, functions: list[Function], host: str = "127.0.0.1", port: int = 0, latency_s: float = 0.0):
        self.functions = {f.name: f for f in functions}
        self.latency_s = latency_s  # added to every Invoke answer: a network round trip to AWS, simulated
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalLambda":
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="lambda-local")
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for fn in self.functions.values():
            fn.stop()

    def _handler_class(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: a fan-out is thousands of requests
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, kind: str, message: str) -> None:
                self._reply(
                    status,
                    json.dumps({"Type": "User", "message": message}).encode(),
                    {"x-amzn-ErrorType": kind, "Content-Type": "application/json"},
                )

            def do_GET(self):
                if self.path == "/slaflow/stats":
                    body = json.dumps({n: f.snapshot() for n, f in endpoint.functions.items()}).encode()
                    return self._reply(200, body, {"Content-Type": "application/json"})
                return self._error(404, "ResourceNotFoundException", f"no route {self.path}")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                if not (path.startswith(PATH_PREFIX) and path.endswith("/invocations")):
                    return self._error(404, "ResourceNotFoundException", f"no route {path}")
                name = unquote(path[len(PATH_PREFIX) : -len("/invocations")]).rsplit(":function:", 1)[-1]
                fn = endpoint.functions.get(name.split(":")[0])
                if fn is None:
                    return self._error(404, "ResourceNotFoundException", f"Function not found: {name}")
                try:
                    event = json.loads(raw or b"{}")
                except ValueError:
                    return self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
                kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                if endpoint.latency_s:
                    time.sleep(endpoint.latency_s)
                if kind == "DryRun":
                    return self._reply(204)
                try:
                    fut = fn.submit(event, sync=(kind != "Event"))
                except Throttled as exc:
                    return self._error(429, "TooManyRequestsException", str(exc))
                if kind == "Event":
                    return self._reply(202)
                status, payload = fut.result()
                headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
                if status != "ok":
                    headers["X-Amz-Function-Error"] = "Unhandled"
                return self._reply(200, json.dumps(payload).encode(), headers)

        return Handler


def configured_functions(
    keepalive_s: float | None = None, concurrency: int | None = None, timeout_s: float | None = None
) -> list[Function]:
    """One function per configuration on the Lambda executor, named and sized as ``slaflow deploy lambda``
    would deploy it."""
    from django.conf import settings

    from orchestrator.core import router

    keep = float(settings.SLAFLOW_LAMBDA_LOCAL_KEEPALIVE_S if keepalive_s is None else keepalive_s)
    conc = int(settings.SLAFLOW_LAMBDA_LOCAL_CONCURRENCY if concurrency is None else concurrency)
    limit = float(settings.SLAFLOW_LAMBDA_TIMEOUT_S if timeout_s is None else timeout_s)
    return [Function(router.function_for(mb), mb, limit, conc, keep) for mb in settings.SLAFLOW_LAMBDA_CONFIGS]


def parse_function(text: str, keepalive_s: float, concurrency: int, timeout_s: float) -> Function:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise argparse.ArgumentTypeError(f"--function {text!r}: expected NAME:MEMORY_MB[:TIMEOUT_S]")
    return Function(
        parts[0], int(parts[1]), float(parts[2]) if len(parts) == 3 else timeout_s, concurrency, keepalive_s
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster.lambda_local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        help="NAME:MEMORY_MB[:TIMEOUT_S] (repeatable); default: one per SLAFLOW_LAMBDA_CONFIGS entry",
    )
    parser.add_argument("--keepalive", type=float, default=None, help="idle environments live this long (s)")
    parser.add_argument("--concurrency", type=int, default=None, help="environments per function at most")
    parser.add_argument("--timeout", type=float, default=None, help="the functions' timeout (s)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="added to every Invoke answer, as a network round trip to AWS would (default 0)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    import django

    django.setup()
    from django.conf import settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    keep = float(settings.SLAFLOW_LAMBDA_LOCAL_KEEPALIVE_S if args.keepalive is None else args.keepalive)
    conc = int(settings.SLAFLOW_LAMBDA_LOCAL_CONCURRENCY if args.concurrency is None else args.concurrency)
    limit = float(settings.SLAFLOW_LAMBDA_TIMEOUT_S if args.timeout is None else args.timeout)
    functions = (
        [parse_function(f, keep, conc, limit) for f in args.function]
        if args.function
        else configured_functions(keep, conc, limit)
    )
    if not functions:
        parser.error("no functions: set SLAFLOW_LAMBDA_CONFIGS or give --function NAME:MEMORY_MB")
    endpoint = LocalLambda(functions, port=args.port, latency_s=args.latency_ms / 1000.0)
    print(
        f"local Lambda endpoint at {endpoint.url}: "
        + ", ".join(
            f"{f.name} ({f.memory_mb} MB, timeout {f.timeout_s:g} s, concurrency {f.concurrency})" for f in functions
        ),
        flush=True,
    )
    try:
        endpoint.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
