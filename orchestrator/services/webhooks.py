"""Delivering SLA alerts to webhooks: a POST of JSON, off every caller's path.

``deliver`` hands the POST to one daemon thread per process (like the task
recorder, ``store.recorder``) and returns at once: the watcher and the
branch that finalizes a run never wait on a slow or dead endpoint. The
thread tries ``SLAFLOW_WEBHOOK_ATTEMPTS`` times, each with a
``SLAFLOW_WEBHOOK_TIMEOUT_S`` timeout, backing off 0.5 s, 1 s, 2 s …
between tries; a 2xx answer ends it. What happened is written into the
run's alert (``WorkflowRun.alerts[i].delivery``: status or error, attempts).

Only ``http`` and ``https`` URLs are accepted (``check_url``, also at
submission: a 400 naming ``webhook_url``); redirects are not followed.

A user's webhook must not become a way to reach what only the workers can
reach (a server-side request forgery): the URL's host must be, or resolve
to, public addresses only — never loopback, private, link-local (cloud
metadata at 169.254.169.254), shared or reserved ones — unless the operator
lists the network in ``SLAFLOW_WEBHOOK_ALLOWED_NETWORKS``. An IP literal is
checked at submission, every address a name resolves to again before each
POST (a name that resolves elsewhere later is refused then).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import queue
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable

from django.conf import settings

log = logging.getLogger("slaflow.webhooks")
SCHEMES = ("http", "https")
MAX_URL = 500


class WebhookError(ValueError):
    pass


def check_url(url) -> str:
    """``url`` if it is an absolute http(s) URL with a host; WebhookError naming the problem otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookError(f"webhook_url must be an http or https URL, got {url!r}")
    if len(url) > MAX_URL:
        raise WebhookError(f"webhook_url is longer than {MAX_URL} characters")
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise WebhookError(f"webhook_url must be an http or https URL with a host, got {url!r}")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None or parts.hostname.lower() == "localhost":
        _check_addresses(parts.hostname, [literal or ipaddress.ip_address("127.0.0.1")])
    return url.strip()


def _check_addresses(host: str, addresses) -> None:
    allowed = [ipaddress.ip_network(n) for n in settings.SLAFLOW_WEBHOOK_ALLOWED_NETWORKS]
    for address in addresses:
        if any(address in net for net in allowed):
            continue
        if not address.is_global or address.is_multicast:
            raise WebhookError(
                f"webhook_url host {host!r} is {address}, not a public address (only the "
                "operator can allow such networks: SLAFLOW_WEBHOOK_ALLOWED_NETWORKS)"
            )


def check_destination(url: str) -> None:
    """Every address the URL's host resolves to now is allowed (right before a POST)."""
    parts = urllib.parse.urlsplit(url)
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise WebhookError(f"webhook_url host {parts.hostname!r} does not resolve ({exc})") from None
    _check_addresses(parts.hostname, {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer, not an instruction to POST elsewhere


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, payload: dict, *, timeout_s: float, attempts: int) -> dict:
    """POST ``payload`` as JSON until a 2xx answer or ``attempts`` tries; returns what happened."""
    body = json.dumps(payload).encode()
    outcome: dict = {"attempts": 0}
    for k in range(max(1, attempts)):
        outcome["attempts"] = k + 1
        try:
            request = urllib.request.Request(
                check_url(url),
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "slaflow-alerts"},
            )
            check_destination(url)
            with _opener.open(request, timeout=timeout_s) as response:
                outcome.update(status=response.status, error="")
                if 200 <= response.status < 300:
                    return outcome
        except urllib.error.HTTPError as exc:
            outcome.update(status=exc.code, error=f"HTTP {exc.code}")
        except WebhookError as exc:  # not a destination a user may send to: trying again will not change that
            outcome.update(status=None, error=f"refused: {exc}")
            return outcome
        except (OSError, ValueError) as exc:
            outcome.update(status=None, error=f"{type(exc).__name__}: {exc}")
        if k + 1 < attempts:
            time.sleep(0.5 * 2**k)
    return outcome


class _Dispatcher:
    def __init__(self):
        self.pid = os.getpid()
        self.jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self._work, name="slaflow-webhooks", daemon=True).start()

    def _work(self) -> None:
        while True:
            url, payload, done = self.jobs.get()
            try:
                outcome = post(
                    url,
                    payload,
                    timeout_s=float(settings.SLAFLOW_WEBHOOK_TIMEOUT_S),
                    attempts=int(settings.SLAFLOW_WEBHOOK_ATTEMPTS),
                )
                if outcome.get("error"):
                    log.warning("webhook %s for run %s: %s", url, payload.get("run"), outcome["error"])
                done(outcome)
            except Exception:
                log.exception("delivering a webhook for run %s failed", payload.get("run"))
            finally:
                self.jobs.task_done()


_dispatcher: _Dispatcher | None = None
_lock = threading.Lock()


def deliver(url: str, payload: dict, done: Callable[[dict], None]) -> None:
    """POST ``payload`` to ``url`` from this process's delivery thread; ``done(outcome)`` is called there."""
    global _dispatcher
    if _dispatcher is None or _dispatcher.pid != os.getpid():
        with _lock:
            if _dispatcher is None or _dispatcher.pid != os.getpid():
                _dispatcher = _Dispatcher()
    _dispatcher.jobs.put((url, payload, done))
