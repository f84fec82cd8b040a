"""GET /api/v1/sdk/stream on the production web server: the current document on connect, a patch
per new version, and a resumed stream given what it missed (docs/streaming.md)."""

import json

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.documents.services import rebuild
from controlplane.flags.services import get_state, toggle_flag
from tests.edge.helpers import Events

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def published(edge, checkout_flag, production):
    return rebuild(production.id)


def publish_toggle(flag, environment, on: bool) -> int:
    toggle_flag(get_state(flag, environment), SYSTEM, on, "stream test")
    return rebuild(environment.id).version


def test_a_stream_starts_with_the_document_and_gets_each_new_version_as_a_patch_of_the_change(
    published, edge, sdk_key, checkout_flag, production
):
    stream = Events(edge.url, sdk_key)
    try:
        stream.read_until(b"event: put")
        newer = publish_toggle(checkout_flag, production, True)
        stream.read_until(f"id: {newer}\n".encode())
        (put, put_version, document), (patch, patch_version, data) = stream.events()
        assert (put, put_version, json.loads(document)["version"]) == ("put", published.version, published.version)
        change = json.loads(data)
        assert (patch, patch_version, change["previous_version"]) == ("patch", newer, published.version)
        assert list(change["flags"]) == ["new-checkout"] and change["flags"]["new-checkout"]["on"] is True
    finally:
        stream.close()


def test_a_resumed_stream_gets_the_patches_after_its_last_event_id_and_no_document(
    published, edge, sdk_key, checkout_flag, production
):
    first = publish_toggle(checkout_flag, production, True)
    second = publish_toggle(checkout_flag, production, False)
    stream = Events(edge.url, sdk_key, last_event_id=published.version)
    try:
        stream.read_until(f"id: {second}\n".encode())
        assert [(kind, version) for kind, version, _ in stream.events()] == [("patch", first), ("patch", second)]
    finally:
        stream.close()


def test_a_stream_resumed_from_a_version_no_patch_leads_from_gets_the_whole_document(
    published, edge, sdk_key, checkout_flag, production
):
    newer = publish_toggle(checkout_flag, production, True)
    stream = Events(edge.url, sdk_key, last_event_id=0)  # a first publication has no patch
    try:
        stream.read_until(f"id: {newer}\n".encode())
        (kind, version, document), *later = stream.events()
        assert (kind, version, json.loads(document)["version"], later) == ("put", newer, newer, [])
    finally:
        stream.close()
