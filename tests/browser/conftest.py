"""A real browser (Debian's chromium, driven by Playwright) against pytest-django's live server.

Playwright never downloads a browser here: it launches Debian's chromium from
PATH (``SLAFLOW_CHROMIUM`` overrides the path; ``make test`` installs it with apt
where it can, ``scripts/system-deps``) with flags that work offline.
Screenshots go to test-artifacts/browser/ (gitignored; ``SLAFLOW_SCREENSHOTS`` overrides) for people to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("SLAFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("SLAFLOW_SCREENSHOTS") or Path(settings.BASE_DIR) / "test-artifacts" / "browser")


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. While Playwright's sync API is running, its asyncio loop counts as
    running in the test thread and Django refuses synchronous ORM calls there; the tests' own ORM calls
    are ordinary blocking calls outside that loop, so Django's guard is off exactly as long as Playwright runs."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"chromium not found at {CHROMIUM}: apt-get install -y chromium (or set SLAFLOW_CHROMIUM); "
            "make test installs it where it can"
        )
    saved = {k: os.environ.get(k) for k in ("DJANGO_ALLOW_ASYNC_UNSAFE", "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD")}
    os.environ.update(DJANGO_ALLOW_ASYNC_UNSAFE="true", PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield b
            b.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shot():
    """Save a full-page screenshot as <ARTIFACTS>/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
