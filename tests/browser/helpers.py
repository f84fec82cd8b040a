"""Helpers for browser tests: sign in through the admin's login form, check the admin is styled."""

from __future__ import annotations

PASSWORD = "correct horse battery"  # the admin_user fixture's


def log_in(page, username: str = "alice", password: str = PASSWORD) -> None:
    """Sign in through the admin's login form and check that the admin's CSS was served."""
    page.goto("/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    assert_styled(page)


def assert_styled(page) -> None:
    """The admin stylesheet loaded (live_server serves static files through the finders)."""
    loaded = page.evaluate(
        "Array.from(document.styleSheets)"
        ".some(s => (s.href || '').endsWith('/admin/css/base.css') && s.cssRules.length > 0)"
    )
    assert loaded, "the admin's base.css did not load"
    header = page.evaluate("getComputedStyle(document.getElementById('header')).display")
    assert header == "flex", f"the admin header is not styled (display: {header})"
