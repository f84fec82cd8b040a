"""Fixtures of the browser tests: headless Chromium driven by Playwright against ``live_server``.

Every test saves screenshots into ``$FLAGPLANE_SCREENSHOT_DIR`` (default ``test-artifacts/screenshots/``);
with ``FLAGPLANE_DOCS_SCREENSHOTS=1`` (``make screenshots``) the ones named for the documentation are
also written to ``docs/img/``. The viewport is fixed so that the pictures do not depend on the machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


def chromium_path() -> str | None:
    explicit = os.environ.get("FLAGPLANE_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def screenshot_dir() -> Path:
    directory = Path(os.environ.get("FLAGPLANE_SCREENSHOT_DIR") or ROOT / "test-artifacts" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for the package's tests; skipped only when no Chromium is installed."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "Chromium is not installed and could not be installed (make test runs "
            "`apt-get install chromium` when it is missing); the browser tests need /usr/bin/chromium"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; Django's ORM refuses to run in a thread
    # with a running loop unless told that this is fine (it is: the loop never runs our ORM calls).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, admin_user, request):
    """A fresh browser context (no cookies) on the live server, where alice (``admin_user``) may sign in.

    A full-page screenshot is kept if the test fails, and the test fails if the page's
    Content-Security-Policy blocked anything (a script, a style, an image) along the way."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(10_000)
    # The admin's navigation sidebar starts collapsed: the pages (and the screenshots) get the width.
    context.add_init_script("window.localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    failed_shot = screenshot_dir() / f"FAILED-{request.node.name}.png"
    failed_shot.unlink(missing_ok=True)
    page = context.new_page()
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=failed_shot, full_page=True)
    context.close()
    assert not blocked, f"the Content-Security-Policy blocked: {blocked}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def shoot(request):
    """``shoot(page, "name", docs="flag-list")``: save a screenshot, and with FLAGPLANE_DOCS_SCREENSHOTS=1
    also as docs/img/flag-list.png."""
    test_name = request.node.name

    def save(page, name: str, docs: str | None = None, **options) -> Path:
        path = screenshot_dir() / f"{test_name}-{name}.png"
        page.screenshot(path=path, **options)
        if docs and os.environ.get("FLAGPLANE_DOCS_SCREENSHOTS") == "1":
            target = ROOT / "docs" / "img" / f"{docs}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return path

    return save
