"""The SDK document: built after writes, schema-valid, cached, scoped to the key's environment."""

import json
from pathlib import Path

import jsonschema
import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from controlplane.audit.services import SYSTEM
from controlplane.documents import cache
from controlplane.documents.services import rebuild
from controlplane.flags.services import get_state, toggle_flag, update_flag_state
from controlplane.projects.models import SdkKey
from controlplane.projects.services import issue_sdk_key, revoke_sdk_key

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "sdk-document.schema.json").read_text())


def sdk_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def published(checkout_flag, production, development):
    """The flag on in production with a rule and a split, documents built as the worker would."""
    update_flag_state(
        get_state(checkout_flag, production),
        SYSTEM,
        {
            "on": True,
            "targets": [{"variant": "on", "keys": ["qa-1"]}],
            "rules": [
                {
                    "id": "free",
                    "clauses": [{"attribute": "plan", "op": "equals", "values": ["free"]}],
                    "serve": {"variant": "off"},
                }
            ],
            "default_serve": {"split": [{"variant": "on", "weight": 10_000}, {"variant": "off", "weight": 90_000}]},
        },
    )
    rebuild(production.id)
    rebuild(development.id)


def test_document_is_valid_against_the_published_schema(published, sdk_key):
    response = sdk_client(sdk_key).get("/api/v1/sdk/config")
    assert response.status_code == 200
    document = json.loads(response.content)
    jsonschema.validate(document, SCHEMA)
    assert document["environment"] == "production"
    assert document["flags"]["new-checkout"]["on"] is True
    assert document["flags"]["new-checkout"]["default"]["split"][0] == {"variant": "on", "weight": 10_000}


def test_unchanged_document_answers_304_to_its_etag(published, sdk_key):
    client = sdk_client(sdk_key)
    first = client.get("/api/v1/sdk/config")
    assert first["ETag"].startswith('"') and not first["ETag"].startswith("W/")
    second = client.get("/api/v1/sdk/config", HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 304
    assert second.content == b""


def test_a_weak_or_listed_etag_also_answers_304(published, sdk_key):
    client = sdk_client(sdk_key)
    etag = client.get("/api/v1/sdk/config")["ETag"]
    assert client.get("/api/v1/sdk/config", HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert client.get("/api/v1/sdk/config", HTTP_IF_NONE_MATCH=f'"older", {etag}').status_code == 304
    assert client.get("/api/v1/sdk/config", HTTP_IF_NONE_MATCH='"older"').status_code == 200


def test_a_change_gives_a_new_version_and_etag(published, sdk_key, checkout_flag, production):
    client = sdk_client(sdk_key)
    first = client.get("/api/v1/sdk/config")
    toggle_flag(get_state(checkout_flag, production), SYSTEM, False, "incident")
    rebuild(production.id)
    second = client.get("/api/v1/sdk/config", HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200
    assert json.loads(second.content)["version"] == json.loads(first.content)["version"] + 1
    assert json.loads(second.content)["flags"]["new-checkout"]["on"] is False


def test_rebuilding_unchanged_content_keeps_version_and_etag(published, production):
    before = rebuild(production.id)
    after = rebuild(production.id)
    assert (after.version, after.etag) == (before.version, before.etag)


def test_a_key_reads_only_its_own_environment(published, development):
    _, development_key = issue_sdk_key(development, SYSTEM, "dev-service")
    document = json.loads(sdk_client(development_key).get("/api/v1/sdk/config").content)
    assert document["environment"] == "development"
    assert document["flags"]["new-checkout"]["on"] is False


def test_revoked_key_gets_401(published, sdk_key):
    revoke_sdk_key(SdkKey.objects.get(name="checkout-service"), SYSTEM)
    assert sdk_client(sdk_key).get("/api/v1/sdk/config").status_code == 401


def test_missing_or_foreign_credentials_get_401(published, write_token):
    assert APIClient().get("/api/v1/sdk/config").status_code == 401
    assert sdk_client(write_token).get("/api/v1/sdk/config").status_code == 401
    assert sdk_client("fp_srv_made-up").get("/api/v1/sdk/config").status_code == 401


def test_archived_flags_leave_the_document(published, api, sdk_key, production):
    api.delete("/api/v1/projects/shop/flags/new-checkout/")
    rebuild(production.id)
    assert "new-checkout" not in json.loads(sdk_client(sdk_key).get("/api/v1/sdk/config").content)["flags"]


def test_document_is_served_from_postgres_when_redis_is_down(published, sdk_key):
    healthy = sdk_client(sdk_key).get("/api/v1/sdk/config")
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        cache._client.cache_clear()
        response = sdk_client(sdk_key).get("/api/v1/sdk/config")
    cache._client.cache_clear()
    assert response.status_code == 200
    assert response["ETag"] == healthy["ETag"]
    assert response.content == healthy.content


def test_redis_copy_is_used_when_present(published, sdk_key, production):
    cache.put(production.uid, '"from-redis"', '{"cached": true}')
    response = sdk_client(sdk_key).get("/api/v1/sdk/config")
    assert response["ETag"] == '"from-redis"'
    rebuild(production.id)


def test_a_cold_read_never_overwrites_a_newer_redis_copy(published, sdk_key, production, monkeypatch):
    """A poll that missed Redis and read PostgreSQL just before a build published must not put
    the older document back over the build's copy."""
    cache.client().delete(cache._key(production.uid))
    real_get = cache.get

    def missed_then_a_build_published(uid):
        cache.put(uid, '"newer"', '{"newer": true}')
        return None

    monkeypatch.setattr(cache, "get", missed_then_a_build_published)
    sdk_client(sdk_key).get("/api/v1/sdk/config")
    assert real_get(production.uid) == ('"newer"', '{"newer": true}')
    rebuild(production.id)


def test_a_cold_read_warms_an_empty_redis(published, sdk_key, production):
    cache.client().delete(cache._key(production.uid))
    response = sdk_client(sdk_key).get("/api/v1/sdk/config")
    assert cache.get(production.uid) == (response["ETag"], response.content.decode())
