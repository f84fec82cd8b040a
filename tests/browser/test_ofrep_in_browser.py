"""In headless Chromium, with clients nobody here wrote: @openfeature/web-sdk and
@openfeature/ofrep-web-provider from the npm registry, bundled by esbuild into a static page
(tests/ofrep/js), served from another origin than the control plane. The page evaluates flags
with a client-side key, sees a change after the provider's next poll, and a page on an origin the
environment does not allow is refused by CORS."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.documents.services import rebuild
from controlplane.flags.models import Flag
from controlplane.flags.services import get_state, update_flag_state
from tests.http_server import serve_directory
from tests.ofrep.helpers import World, make_world
from tests.ofrep.jsclients import JS, require_bundle

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def static_site() -> Iterator[int]:
    """tests/ofrep/js over HTTP on a free port: the page lives on another origin than the API."""
    require_bundle()
    with serve_directory(JS) as server:
        yield server.port


@pytest.fixture
def world(static_site) -> World:
    return make_world(origins=[f"http://127.0.0.1:{static_site}"])


def open_page(browser, host: str, port: int, live_server, world: World):
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    query = urlencode({"base": live_server.url, "key": world.client_key, "poll": 300})
    page.goto(f"http://{host}:{port}/page.html?{query}")
    return page, messages


def test_a_page_evaluates_flags_with_a_client_side_key_and_sees_a_change(browser, live_server, static_site, world):
    page, _ = open_page(browser, "127.0.0.1", static_site, live_server, world)
    assert page.evaluate("window.ready") == "ready"
    flags = page.evaluate("window.evaluate()")
    assert (flags["new-checkout"]["value"], flags["new-checkout"]["reason"]) == (True, "TARGETING_MATCH")
    assert flags["new-checkout"]["flagMetadata"] == {"team": "payments", "rule": "pro"}
    assert (flags["banner-text"]["value"], flags["banner-text"]["reason"]) == ("Hello", "STATIC")
    assert flags["max-items"]["value"] == 25
    assert flags["theme"]["value"] == {"dark": True, "n": 3}
    assert (flags["killed"]["value"], flags["killed"]["reason"]) == (True, "DISABLED")
    assert (flags["server-only"]["value"], flags["server-only"]["errorCode"]) == (True, "FLAG_NOT_FOUND")

    state = get_state(Flag.objects.get(key="banner-text"), world.environment)
    update_flag_state(state, SYSTEM, {"default_serve": {"variant": "sale"}}, reason="sale starts")
    rebuild(world.environment.id)
    page.wait_for_function("window.evaluate()['banner-text'].value === 'Sale!'")
    assert page.evaluate("window.configurationChanges") >= 1
    page.context.close()


def test_a_page_on_an_origin_the_environment_does_not_allow_is_refused_by_cors(
    browser, live_server, static_site, world
):
    page, messages = open_page(browser, "localhost", static_site, live_server, world)  # another origin
    assert page.evaluate("window.ready").startswith("error")
    assert page.evaluate("window.evaluate()['banner-text'].value") == "fallback"
    assert any("CORS" in message for message in messages), messages
    page.context.close()
