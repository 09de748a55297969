"""Production mode refuses settings that expose the site, naming the variable, and turns on the safe defaults:
secure cookies, HSTS, nosniff, no framing (issue 23, rows 6-8). The real settings module runs in a fresh
interpreter, as gunicorn would load it."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from orchestrator.core import envconfig

GOOD_KEY = "k" * 50
# What a correct production deployment sets (docker-compose sets the same variables).
PRODUCTION = {
    "SLAFLOW_MODE": "production",
    "DJANGO_SECRET_KEY": GOOD_KEY,
    "DJANGO_ALLOWED_HOSTS": "slaflow.example.com",
}
CHECKED = ("DJANGO_", "SLAFLOW_MODE", "SLAFLOW_FLOWER_BASIC_AUTH", "SLAFLOW_SECURE_COOKIES")


def exposure(**changes) -> envconfig.Exposure:
    values = dict(
        debug=False, secret_key=GOOD_KEY, allowed_hosts=("slaflow.example.com",), flower_auth="", secure_cookies=True
    )
    return envconfig.Exposure(**{**values, **changes})


def python(args: list[str], **env) -> subprocess.CompletedProcess:
    """Python with the real settings and exactly ``env`` for the checked variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(CHECKED)}
    full.update(DJANGO_SETTINGS_MODULE="orchestrator.settings", **env)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=full, cwd=str(settings.BASE_DIR), timeout=60
    )


def start(code: str = "", **env) -> subprocess.CompletedProcess:
    """``django.setup()``, then ``code``."""
    return python(["-c", "import django; django.setup()\n" + code], **env)


def refused(out: subprocess.CompletedProcess, message: str) -> bool:
    return out.returncode != 0 and "refuses to start" in out.stderr and message in out.stderr


def test_check_production_names_each_exposure():
    envconfig.check_production(
        mode="local",
        exposure=exposure(
            debug=True,
            secret_key=envconfig.LOCAL_SECRET_KEY,
            allowed_hosts=("*",),
            secure_cookies=False,
            flower_auth=envconfig.DEFAULT_FLOWER_AUTH,
        ),
    )
    envconfig.check_production(mode="production", exposure=exposure())
    envconfig.check_production(mode="production", exposure=exposure(flower_auth="ops:a-long-random-password"))
    cases = [
        (dict(debug=True), "DJANGO_DEBUG is on"),
        (dict(secret_key=envconfig.LOCAL_SECRET_KEY), "DJANGO_SECRET_KEY is a default"),
        (dict(secret_key="change-me-in-production"), "DJANGO_SECRET_KEY is a default"),
        (dict(secret_key="short"), "DJANGO_SECRET_KEY is a default"),
        (dict(allowed_hosts=()), "DJANGO_ALLOWED_HOSTS is not set"),
        (dict(allowed_hosts=("slaflow.example.com", "*")), "DJANGO_ALLOWED_HOSTS allows any host"),
        (dict(secure_cookies=False), "SLAFLOW_SECURE_COOKIES is off"),
        (dict(flower_auth=envconfig.DEFAULT_FLOWER_AUTH), "SLAFLOW_FLOWER_BASIC_AUTH for 'slaflow' is the public"),
        (dict(flower_auth="ops:short"), "SLAFLOW_FLOWER_BASIC_AUTH for 'ops' is the public default or a password"),
        (dict(flower_auth="no-password"), "SLAFLOW_FLOWER_BASIC_AUTH must be user:password"),
    ]
    for changes, message in cases:
        with pytest.raises(envconfig.ConfigError, match=message):
            envconfig.check_production(mode="production", exposure=exposure(**changes))


def test_settings_refuse_to_start_in_production_naming_the_variable():
    assert refused(start(SLAFLOW_MODE="production"), "DJANGO_SECRET_KEY is a default")
    assert refused(start(**{**PRODUCTION, "DJANGO_DEBUG": "true"}), "DJANGO_DEBUG is on")
    unset_hosts = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_ALLOWED_HOSTS"}
    assert refused(start(**unset_hosts), "DJANGO_ALLOWED_HOSTS is not set")
    assert refused(start(**{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "*"}), "DJANGO_ALLOWED_HOSTS allows any host")
    assert refused(start(**{**PRODUCTION, "SLAFLOW_SECURE_COOKIES": "false"}), "SLAFLOW_SECURE_COOKIES is off")
    assert refused(
        start(**{**PRODUCTION, "SLAFLOW_FLOWER_BASIC_AUTH": "slaflow:slaflow"}),
        "SLAFLOW_FLOWER_BASIC_AUTH for 'slaflow' is the public default",
    )
    out = start(**PRODUCTION)
    assert out.returncode == 0, out.stderr
    assert start().returncode == 0  # local mode: the development defaults are fine
    out = start(SLAFLOW_MODE="staging")
    assert out.returncode != 0 and "SLAFLOW_MODE='staging' is not one of local, production" in out.stderr


PRINT_SETTINGS = """
import json
from django.conf import settings as s
print(json.dumps({k: getattr(s, k) for k in ("DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER", "SLAFLOW_FLOWER_BASIC_AUTH", "X_FRAME_OPTIONS")}))
"""


def test_production_defaults_are_the_safe_ones_and_local_mode_keeps_the_development_ones():
    prod = json.loads(start(PRINT_SETTINGS, **PRODUCTION).stdout)
    assert prod == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["slaflow.example.com"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_PROXY_SSL_HEADER": None,
        "SLAFLOW_FLOWER_BASIC_AUTH": "",
        "X_FRAME_OPTIONS": "DENY",
    }
    local = json.loads(start(PRINT_SETTINGS).stdout)
    assert local["DEBUG"] and local["ALLOWED_HOSTS"] == ["*"] and not local["SESSION_COOKIE_SECURE"]
    assert local["SECURE_HSTS_SECONDS"] == 0 and local["SLAFLOW_FLOWER_BASIC_AUTH"] == envconfig.DEFAULT_FLOWER_AUTH
    proxied = json.loads(
        start(PRINT_SETTINGS, **PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https").stdout
    )
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    bad = start(**PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER="https")
    assert bad.returncode != 0 and "DJANGO_SECURE_PROXY_SSL_HEADER='https' is not 'Header-Name: value'" in bad.stderr


REQUEST_HEADERS = """
import json
from django.test import Client
resp = Client().get("/accounts/login/", HTTP_HOST="slaflow.example.com", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({"status": resp.status_code, "hsts": resp.get("Strict-Transport-Security"),
                  "nosniff": resp.get("X-Content-Type-Options"), "frame": resp.get("X-Frame-Options"),
                  "csrf_cookie_secure": bool(resp.cookies["csrftoken"]["secure"])}))
forged = Client().get("/accounts/login/", HTTP_HOST="attacker.example")
print(forged.status_code)
"""


def test_a_production_answer_over_https_carries_hsts_nosniff_no_framing_and_secure_cookies():
    out = start(REQUEST_HEADERS, **PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https")
    answer, forged = out.stdout.strip().splitlines()
    assert json.loads(answer) == {
        "status": 200,
        "hsts": "max-age=31536000",
        "nosniff": "nosniff",
        "frame": "DENY",
        "csrf_cookie_secure": True,
    }
    assert forged == "400"  # a Host outside DJANGO_ALLOWED_HOSTS never reaches a view (no poisoned links)


def test_flower_will_not_start_in_production_without_a_login():
    """``python -m workers.flower`` (docker-compose's Flower) checks before it becomes Flower."""
    out = python(["-m", "workers.flower", "--port=1"], **PRODUCTION)
    assert out.returncode != 0
    assert "refuses to start Flower: SLAFLOW_FLOWER_BASIC_AUTH is empty" in out.stderr
