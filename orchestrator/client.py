"""A small Python client for slaflow's REST API (standard library only).

    from orchestrator.client import Client

    api = Client("http://127.0.0.1:8000", token="…")        # slaflow token USER
    run = api.submit("tree_reduction", params={"n": 64}, planner="wukong", sla="p90")
    api.result(run["id"], timeout=120)                        # → 2016

    from slaflow.workflows.tree_reduction import add     # any @task graph works too:
    run = api.submit(add(add(1, 2), add(3, 4)), name="sums")  # sent as a JSON graph spec

A graph built with ``@task`` travels as its JSON spec: only function paths
and constant arguments are sent, so the functions must be importable on the
workers and live in the server's allowed workflow modules.

The token goes only to the server's own origin (scheme, host and port of
``url``): a redirect to another origin is refused (``RedirectRefused``) before
anything is sent there, a page's ``next`` link is followed on the client's own
origin (its path and query only), and ``request`` refuses an absolute URL
elsewhere.

The module needs only the standard library (``pip install 'slaflow[client]'``
installs no Django, Celery or numpy). A 429 (too many submissions) or 503
(Redis unavailable) answer is retried after the server's ``Retry-After``, up to
``retries`` times while that wait is at most ``max_wait_s``; then it raises.
"""

from __future__ import annotations

import email.utils
import io
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

FINISHED = ("succeeded", "failed", "cancelled")
DOWNLOAD_CHUNK_BYTES = 1 << 20
Reader = Callable[[Any], Any]  # an HTTP response → what a download makes of it


class ApiError(RuntimeError):
    """The server refused a request; ``status`` is the HTTP code, ``body`` its JSON answer."""

    def __init__(self, status: int, body: Any, method: str, url: str):
        self.status, self.body, self.method, self.url = status, body, method, url
        super().__init__(f"{method} {url} → {status}: {_summarise(body)}")

    @property
    def field_errors(self) -> dict:
        return self.body if isinstance(self.body, dict) and "detail" not in self.body else {}


class Throttled(ApiError):
    """429: too many submissions; ``retry_after`` says how many seconds to wait."""

    def __init__(self, status, body, method, url, retry_after: float | None):
        super().__init__(status, body, method, url)
        self.retry_after = retry_after


class Unavailable(ApiError):
    """503: the server cannot take the request now (e.g. Redis down); ``retry_after`` as the server said."""

    def __init__(self, status, body, method, url, retry_after: float | None):
        super().__init__(status, body, method, url)
        self.retry_after = retry_after


class RedirectRefused(ApiError):
    """The server redirected to another origin; the request was not sent there (it would carry the token)."""

    def __init__(self, status, body, method, url, location: str):
        super().__init__(status, body, method, url)
        self.location = location


RETRYABLE = {429: Throttled, 503: Unavailable}


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what a token is bound to."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the origin the request went to (urllib would resend every header,
    ``Authorization`` included, to wherever ``Location`` points)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if origin(newurl) != origin(req.full_url):
            fp.close()
            detail = (
                f"redirected to {newurl}, another origin than {req.full_url}: not followed, so the token "
                "is not sent there (use that server's URL as the client's base if it is yours)"
            )
            raise RedirectRefused(code, {"detail": detail}, req.get_method(), req.full_url, location=newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RunFailed(RuntimeError):
    def __init__(self, run: dict):
        self.run = run
        where = f" in task {run.get('failed_node')!r}" if run.get("failed_node") else ""
        super().__init__(f"run {run.get('id', run.get('run'))} failed{where}: {run.get('error')}")


class RunCancelled(RuntimeError):
    pass


class NotJSONResult:
    """A result the server holds but cannot show as JSON (e.g. a numpy array): its type and size."""

    def __init__(self, type: str, bytes: int | None):
        self.type, self.bytes = type, bytes

    def __repr__(self) -> str:
        return f"<result of type {self.type}, {self.bytes} bytes>"


def _summarise(body: Any) -> str:
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in body.items())
    return str(body)[:500]


class Multipart:
    """A multipart/form-data body: text fields and files (name → (filename, bytes))."""

    def __init__(self, fields: dict[str, str], files: dict[str, tuple[str, bytes]]):
        self.fields, self.files = fields, files

    def encode(self) -> tuple[bytes, str]:
        import secrets

        boundary = "slaflow-" + secrets.token_hex(16)
        parts: list[bytes] = []
        for key, value in self.fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(key)}"\r\n\r\n'.encode()
                + str(value).encode("utf-8")
                + b"\r\n"
            )
        for key, (filename, content) in self.files.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(key)}"; '
                f'filename="{_quoted(filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                + bytes(content)
                + b"\r\n"
            )
        parts.append(f"--{boundary}--\r\n".encode())
        return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quoted(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class Client:
    def __init__(
        self, url: str, token: str | None = None, *, timeout: float = 30.0, retries: int = 3, max_wait_s: float = 60.0
    ):
        self.base = url.rstrip("/") + "/api/"
        self.token = token
        self.timeout = timeout
        self.retries = retries  # 429 / 503 answers retried after Retry-After, at most this many times
        self.max_wait_s = max_wait_s  # a longer Retry-After raises at once: the caller decides
        self.waits: list[tuple[int, float]] = []  # (status, seconds) of every wait, newest last
        self._opener = urllib.request.build_opener(_SameOriginRedirects)

    # --- transport --------------------------------------------------------------

    def request(
        self, method: str, path: str, body: Any = None, query: dict | None = None, *, read: Reader | None = None
    ) -> Any:
        """``path`` relative to ``/api/``, or an absolute URL on the server's own origin. The answer's JSON,
        or what ``read(response)`` makes of a successful answer (a download)."""
        absolute = urllib.parse.urlsplit(path)
        url = path if absolute.scheme and absolute.netloc else urllib.parse.urljoin(self.base, path.lstrip("/"))
        if origin(url) != origin(self.base):
            raise ValueError(f"{url} is not on {self.base}'s origin: the client sends its token to no other")
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        content_type = "application/json"
        if isinstance(body, Multipart):
            data, content_type = body.encode()
        else:
            data = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            try:
                return self._send(method, url, data, content_type, read)
            except (Throttled, Unavailable) as err:
                wait = err.retry_after
                if attempt == self.retries or wait is None or wait > self.max_wait_s:
                    raise
                self.waits.append((err.status, wait))
                time.sleep(wait)

    def _send(
        self,
        method: str,
        url: str,
        data: bytes | None,
        content_type: str = "application/json",
        read: Reader | None = None,
    ) -> Any:
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json" if read is None else "*/*")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                if read is not None:
                    return read(resp)
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            if err.code in RETRYABLE:
                raise RETRYABLE[err.code](
                    err.code, payload, method, url, retry_after_s(err.headers.get("Retry-After"))
                ) from None
            raise ApiError(err.code, payload, method, url) from None
        return json.loads(raw) if raw else None

    # --- runs -----------------------------------------------------------------------

    def submit(
        self, target, *, params: dict | None = None, name: str | None = None, planner: str = "wukong", sla: str = "p90"
    ) -> dict:
        """Submit a library workflow (its name), a JSON spec (a dict), or a graph built with @task (its sink)."""
        body: dict[str, Any] = {"planner": planner, "sla": sla}
        if isinstance(target, str):
            body["workflow"] = target
            if params:
                body["params"] = params
        else:
            if params:
                raise ValueError("params apply to library workflows; a graph carries its own arguments")
            body["dag"] = target if isinstance(target, dict) else self.spec_of(target)
            chosen = name or (target.get("name") if isinstance(target, dict) else target.task.fn.__name__)
            if chosen:
                body["name"] = chosen
        return self.request("POST", "runs/", body)

    @staticmethod
    def spec_of(sink) -> dict:
        """The JSON spec of the graph ending in ``sink`` (a lazy node from calling a @task function)."""
        from orchestrator.core.authoring import build_graph
        from orchestrator.core.spec import to_spec

        return to_spec(build_graph(sink))

    def get(self, run_id: int) -> dict:
        return self.request("GET", f"runs/{int(run_id)}/")

    def runs(self, **filters) -> list[dict]:
        """Every run you can see (all pages), optionally filtered by workflow, status, planner, sla."""
        return self._all_pages("runs/", filters)

    def wait(self, run_id: int, timeout: float | None = None, *, poll_s: float = 0.5) -> dict:
        """Poll until the run is finished; returns it. Raises TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get(run_id)
            if run["status"] in FINISHED:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} still {run['status']} after {timeout} s")
            time.sleep(poll_s if deadline is None else max(0.0, min(poll_s, deadline - time.monotonic())))

    def result(self, run_id: int, timeout: float | None = None) -> Any:
        """The run's result once it succeeds (NotJSONResult when not JSON: ``download`` it);
        RunFailed / RunCancelled otherwise."""
        self._succeeded(run_id, timeout)
        out = self.request("GET", f"runs/{int(run_id)}/result/")
        return out["value"] if out["json"] else NotJSONResult(out["type"], out["bytes"])

    def download(self, run_id: int, timeout: float | None = None, *, to: str | os.PathLike | None = None) -> Any:
        """The run's result in full once it succeeds (``GET …/result/download/``): a numpy array (read from
        its ``.npy`` without pickle; needs numpy), bytes, or the plain JSON value. ``to``: written into that
        file instead, as it arrives (the path is returned). RunFailed / RunCancelled when it did not succeed;
        ApiError 406 for a result with no such form (e.g. a tuple)."""
        self._succeeded(run_id, timeout)

        def read(resp) -> Any:
            if to is not None:
                with open(to, "wb") as out:
                    shutil.copyfileobj(resp, out, DOWNLOAD_CHUNK_BYTES)
                return to
            raw = resp.read()
            form = resp.headers.get("X-Slaflow-Result-Format")
            if form == "npy":
                import numpy

                return numpy.load(io.BytesIO(raw), allow_pickle=False)
            return raw if form == "bytes" else json.loads(raw)

        return self.request("GET", f"runs/{int(run_id)}/result/download/", read=read)

    def _succeeded(self, run_id: int, timeout: float | None) -> dict:
        run = self.wait(run_id, timeout)
        if run["status"] == "failed":
            raise RunFailed(run)
        if run["status"] == "cancelled":
            raise RunCancelled(f"run {run_id} was cancelled")
        return run

    def cancel(self, run_id: int) -> dict:
        return self.request("POST", f"runs/{int(run_id)}/cancel/")

    def plan(self, run_id: int) -> dict:
        return self.request("GET", f"runs/{int(run_id)}/plan/")

    def tasks(self, run_id: int) -> list[dict]:
        return self._all_pages(f"runs/{int(run_id)}/tasks/", {})

    # --- workflows and plans ------------------------------------------------------------

    def workflows(self) -> list[dict]:
        return self._all_pages("workflows/", {})

    def preview(
        self, target, *, params: dict | None = None, planners: list[str] | None = None, slas: list[str] | None = None
    ) -> dict:
        body: dict[str, Any] = {}
        if isinstance(target, str):
            body["workflow"] = target
            if params:
                body["params"] = params
        else:
            body["dag"] = target if isinstance(target, dict) else self.spec_of(target)
        if planners:
            body["planners"] = planners
        if slas:
            body["slas"] = slas
        return self.request("POST", "plans/preview/", body)

    # --- pushed code (docs/code.md) -------------------------------------------------------

    def push_code(self, filename: str, content: bytes, name: str | None = None) -> dict:
        """Push a module (.py) or wheel (.whl) as the next version of its name (needs orchestrator.push_code)."""
        fields = {"name": name} if name else {}
        return self.request("POST", "code/", Multipart(fields, {"file": (filename, content)}))

    def code_list(self) -> list[dict]:
        return self._all_pages("code/", {})

    def code(self, owner: str, name: str) -> dict:
        return self.request("GET", f"code/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}/")

    def share_code(self, owner: str, name: str, *, users=(), groups=(), remove: bool = False) -> dict:
        path = f"code/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}/share/"
        return self.request("POST", path, {"users": list(users), "groups": list(groups), "remove": remove})

    def own_origin(self, link: str) -> str:
        """A link the server sent (a page's ``next``), on this client's own origin: only its path and query
        are taken, so a forged or misconfigured host (or scheme, behind a TLS proxy) never gets the token."""
        parts = urllib.parse.urlsplit(link)
        own = urllib.parse.urlsplit(self.base)
        return urllib.parse.urlunsplit((own.scheme, own.netloc, parts.path, parts.query, ""))

    def _all_pages(self, path: str, query: dict) -> list[dict]:
        page = self.request("GET", path, query=query)
        items = list(page["results"])
        while page.get("next"):
            page = self.request("GET", self.own_origin(page["next"]))
            items.extend(page["results"])
        return items
