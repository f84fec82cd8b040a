"""In a real browser: Swagger UI (/api/docs/) renders the schema under the site's Content-Security-Policy."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_shows_the_operations(page):
    page.goto("/api/docs/")
    page.wait_for_selector("text=Flagplane API")
    page.wait_for_selector(".opblock-tag-section")
    assert page.locator(".opblock").count() > 20
