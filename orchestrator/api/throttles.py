"""Throttles: whom a request counts against, and how often each may try.

Counters live in the shared cache (Redis), so every web process sees the same
ones; each allowed request is stamped in its bucket and a full bucket answers
429 with ``Retry-After`` (DRF's ``SimpleRateThrottle``).

Whom a request counts against:

* a signed-in request: its **user** (a new address gives no fresh bucket);
* an anonymous one: its **client address** — ``REMOTE_ADDR``, or with
  ``SLAFLOW_NUM_PROXIES`` = N trusted proxies in front, the address the
  outermost of them saw (the N-th entry from the right of
  ``X-Forwarded-For``, DRF's ``NUM_PROXIES``). With no proxy configured the
  header is ignored: a client writing its own ``X-Forwarded-For`` picks
  nothing.

The web's plan preview is a GET that plans: it counts in the same per-user
bucket as REST submissions and previews (``preview_refusal``).

Logins — the token exchange (``POST /api/auth/token/``) and the three login
forms (the web UI's ``/accounts/login/``, the admin's ``/admin/login/``, the
browsable API's ``/api/session/login/``) — are counted twice,
``SLAFLOW_LOGIN_RATE`` each: per **username** tried (many addresses guessing
one password) and per **address** (one address trying many usernames). Every
attempt counts, successful or not::

    POST login ──► address bucket full? ──► 429 + Retry-After
                   username bucket full? ──► 429 + Retry-After
                   else: the view checks the password
"""

from __future__ import annotations

import hashlib
import math

from django.conf import settings
from django.http import HttpResponse
from django.utils.html import format_html
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

# URL names of the login forms (django.contrib.auth's, the admin site's, DRF's browsable API's).
LOGIN_FORMS = frozenset({"login", "admin:login", "rest_framework:login"})


class SubmissionThrottle(SimpleRateThrottle):
    """Submissions (unsafe methods) per user, counted in the shared Redis cache."""

    scope = "submissions"

    def get_rate(self):
        return settings.SLAFLOW_API_SUBMIT_RATE or None

    def get_cache_key(self, request, view):
        if request.method in SAFE_METHODS:
            return None
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PreviewThrottle(SubmissionThrottle):
    """The web's plan preview (a GET that plans up to 48 plans) counts in its user's submissions bucket, as
    the REST preview does."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


def preview_refusal(request) -> HttpResponse | None:
    """None when this web preview may plan (and is counted), else a 429 with ``Retry-After``."""
    throttle = PreviewThrottle()
    if throttle.allow_request(request, None):
        return None
    seconds = max(1, math.ceil(throttle.wait() or 1.0))
    body = format_html(
        "<!doctype html><title>Too many previews</title><h1>Too many previews</h1><p>Plan previews "
        "and submissions are limited to {} (SLAFLOW_API_SUBMIT_RATE). Try again in {} seconds.</p>",
        settings.SLAFLOW_API_SUBMIT_RATE,
        seconds,
    )
    return HttpResponse(body, status=429, headers={"Retry-After": str(seconds)})


class LoginAddressThrottle(SimpleRateThrottle):
    """Login attempts per client address."""

    scope = "login-address"

    def get_rate(self):
        return settings.SLAFLOW_LOGIN_RATE or None

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    """Login attempts per username tried (case-insensitively; hashed, so any text makes a short key)."""

    scope = "login-username"

    def get_rate(self):
        return settings.SLAFLOW_LOGIN_RATE or None

    def get_cache_key(self, request, view):
        username = login_username(request)
        if not username:
            return None  # nothing to guess a password for; the address bucket still counts it
        digest = hashlib.sha256(username.strip().casefold().encode("utf-8", "replace")).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}


LOGIN_THROTTLES = (LoginAddressThrottle, LoginUsernameThrottle)


def login_username(request) -> str:
    """The username a login request tries: a REST request's parsed body, or a form's POST."""
    data = request.data if hasattr(request, "data") else request.POST
    value = data.get("username") if hasattr(data, "get") else None
    return value if isinstance(value, str) else ""


def login_wait(request) -> float | None:
    """None when this login attempt may go ahead (and is counted), else seconds until it may."""
    for throttle_class in LOGIN_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            return throttle.wait() or 1.0
    return None


class LoginThrottleMiddleware:
    """429 with ``Retry-After`` and a plain message for a login form posted too often."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in LOGIN_FORMS:
            return None
        wait = login_wait(request)
        if wait is None:
            return None
        seconds = max(1, math.ceil(wait))
        body = format_html(
            "<!doctype html><title>Too many sign-in attempts</title><h1>Too many sign-in attempts</h1>"
            "<p>Too many sign-in attempts for this username or from this address. "
            'Try again in {} seconds.</p><p><a href="{}">Back to the sign-in page</a></p>',
            seconds,
            request.path,
        )
        return HttpResponse(body, status=429, headers={"Retry-After": str(seconds)})
