"""OFREP's shapes, status codes and headers (open-feature/protocol service/openapi.yaml), against
the Django views; the third-party clients are in the other files of this folder."""

import json

import pytest
from django.test import Client

from controlplane.audit.services import SYSTEM
from controlplane.documents.services import rebuild
from controlplane.flags.models import Flag
from controlplane.flags.services import get_state, toggle_flag
from controlplane.projects.services import revoke_client_key
from controlplane.ratelimit import Limit
from tests.ofrep.helpers import make_world

ORIGIN = "https://shop.example.com"


@pytest.fixture
def world(db):
    return make_world(origins=[ORIGIN])


def post(path, key, body=None, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body or {})
    return Client().post(
        f"/ofrep/v1/{path}", data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}", **headers
    )


def test_single_evaluation_answers_value_variant_reason_and_metadata(world):
    response = post("evaluate/flags/new-checkout", world.client_key, {"context": {"targetingKey": "u1", "plan": "pro"}})
    assert response.status_code == 200
    assert response.json() == {
        "key": "new-checkout", "value": True, "variant": "on", "reason": "TARGETING_MATCH",
        "metadata": {"team": "payments", "rule": "pro"},
    }  # fmt: skip
    static = post("evaluate/flags/banner-text", world.client_key, {"context": {"targetingKey": "u1"}}).json()
    assert (static["value"], static["reason"]) == ("Hello", "STATIC")
    fallthrough = post("evaluate/flags/new-checkout", world.client_key, {"context": {"targetingKey": "u1"}}).json()
    assert (fallthrough["value"], fallthrough["reason"]) == (False, "DEFAULT")


def test_a_disabled_flag_defers_to_the_code_default(world):
    body = post("evaluate/flags/killed", world.client_key, {"context": {"targetingKey": "u1"}}).json()
    assert body == {"key": "killed", "reason": "DISABLED", "metadata": {}}  # no value: codeDefaultFlag


def test_an_unknown_flag_is_404_flag_not_found(world):
    response = post("evaluate/flags/nope", world.client_key, {"context": {"targetingKey": "u1"}})
    assert response.status_code == 404
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND" and response.json()["key"] == "nope"


def test_a_client_key_sees_only_client_side_flags_and_a_server_key_sees_all(world):
    assert post("evaluate/flags/server-only", world.client_key).status_code == 404
    assert post("evaluate/flags/server-only", world.server_key).json()["value"] is True
    client_keys = {flag["key"] for flag in post("evaluate/flags", world.client_key).json()["flags"]}
    server_keys = {flag["key"] for flag in post("evaluate/flags", world.server_key).json()["flags"]}
    assert "server-only" not in client_keys and server_keys == client_keys | {"server-only"}


def test_bad_bodies_are_400_with_openfeature_error_codes(world):
    assert post("evaluate/flags/new-checkout", world.client_key, b"{not json").json()["errorCode"] == "PARSE_ERROR"
    response = post("evaluate/flags/new-checkout", world.client_key, {"context": ["x"]})
    assert (response.status_code, response.json()["errorCode"]) == (400, "INVALID_CONTEXT")
    bulk = post("evaluate/flags", world.client_key, b"[1")
    assert (bulk.status_code, bulk.json()["errorCode"]) == (400, "PARSE_ERROR")


def test_a_split_needing_the_targeting_key_is_targeting_key_missing(world):
    state = get_state(Flag.objects.get(key="new-checkout"), world.environment)
    from controlplane.flags.services import update_flag_state

    update_flag_state(
        state,
        SYSTEM,
        {"default_serve": {"split": [{"variant": "on", "weight": 50_000}, {"variant": "off", "weight": 50_000}]}},
    )
    rebuild(world.environment.id)
    response = post("evaluate/flags/new-checkout", world.client_key, {"context": {"plan": "free"}})
    assert (response.status_code, response.json()["errorCode"]) == (400, "TARGETING_KEY_MISSING")
    bulk = {f["key"]: f for f in post("evaluate/flags", world.client_key, {"context": {}}).json()["flags"]}
    assert bulk["new-checkout"]["errorCode"] == "TARGETING_KEY_MISSING" and bulk["banner-text"]["value"] == "Hello"


def test_bulk_evaluation_has_an_etag_and_answers_304_until_something_changes(world):
    context = {"context": {"targetingKey": "u1", "plan": "pro"}}
    first = post("evaluate/flags", world.client_key, context)
    assert first.status_code == 200 and first["ETag"]
    assert post("evaluate/flags", world.client_key, context, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    other_context = post(
        "evaluate/flags", world.client_key, {"context": {"targetingKey": "u2"}}, HTTP_IF_NONE_MATCH=first["ETag"]
    )
    assert other_context.status_code == 200
    toggle_flag(get_state(Flag.objects.get(key="banner-text"), world.environment), SYSTEM, False)
    rebuild(world.environment.id)
    changed = post("evaluate/flags", world.client_key, context, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]


def test_configuration_describes_polling_and_types(world):
    response = Client().get("/ofrep/v1/configuration", HTTP_AUTHORIZATION=f"Bearer {world.client_key}")
    assert response.status_code == 200
    assert response.json()["capabilities"]["cacheInvalidation"]["polling"]["enabled"] is True
    again = Client().get(
        "/ofrep/v1/configuration", HTTP_AUTHORIZATION=f"Bearer {world.client_key}", HTTP_IF_NONE_MATCH=response["ETag"]
    )
    assert again.status_code == 304


def test_no_key_a_wrong_key_and_a_revoked_key_are_401(world):
    assert Client().post("/ofrep/v1/evaluate/flags", "{}", content_type="application/json").status_code == 401
    assert post("evaluate/flags", "fp_cli_wrong").status_code == 401
    from controlplane.projects.models import ClientKey

    revoke_client_key(ClientKey.objects.get(), SYSTEM)
    assert post("evaluate/flags", world.client_key).status_code == 401


def test_the_x_api_key_header_is_accepted_too(world):
    response = Client().post(
        "/ofrep/v1/evaluate/flags", "{}", content_type="application/json", HTTP_X_API_KEY=world.client_key
    )
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_client_key_never_reads_the_sdk_document(world, edge):
    for path in ("/api/v1/sdk/config", "/api/v1/sdk/stream"):
        response = edge.get(path, world.client_key)
        assert response.status in (401, 403)
        assert b"new-checkout" not in response.body


def test_cors_allows_the_environments_origins_and_refuses_others(world):
    preflight = Client().options(
        "/ofrep/v1/evaluate/flags", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    allowed = post("evaluate/flags", world.client_key, HTTP_ORIGIN=ORIGIN)
    assert allowed.status_code == 200 and allowed["Access-Control-Allow-Origin"] == ORIGIN
    assert "ETag" in allowed["Access-Control-Expose-Headers"]
    evil = "https://evil.example.com"
    refused_preflight = Client().options("/ofrep/v1/evaluate/flags", HTTP_ORIGIN=evil)
    assert refused_preflight.status_code == 403 and "Access-Control-Allow-Origin" not in refused_preflight
    refused = post("evaluate/flags", world.client_key, HTTP_ORIGIN=evil)
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused
    server_key_in_browser = post("evaluate/flags", world.server_key, HTTP_ORIGIN=ORIGIN)
    assert server_key_in_browser.status_code == 403


def test_a_key_past_its_rate_is_429_with_retry_after(world, settings):
    settings.THROTTLE_OFREP = Limit.parse("3/hour")
    statuses = [post("evaluate/flags", world.client_key).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert int(post("evaluate/flags", world.client_key)["Retry-After"]) == 1200
    assert post("evaluate/flags", world.server_key).status_code == 200  # another key, another bucket
    elsewhere = Client(REMOTE_ADDR="203.0.113.9").post(
        "/ofrep/v1/evaluate/flags",
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.client_key}",
    )
    assert elsewhere.status_code == 200  # a client-side key: one budget per visitor address


def test_repeated_wrong_keys_from_one_address_are_429_even_for_a_right_one(world, settings):
    settings.THROTTLE_AUTH_FAILURES = Limit.parse("2/hour")
    statuses = [post("evaluate/flags", f"fp_cli_guess{n}").status_code for n in range(3)]
    assert statuses == [401, 401, 429]
    assert post("evaluate/flags", world.client_key).status_code == 429


def test_a_body_over_64_kib_is_a_400_invalid_context_and_not_read_further(world):
    over_64_kib = {"context": {"targetingKey": "u1", "notes": "x" * (64 * 1024)}}
    single = post("evaluate/flags/new-checkout", world.client_key, over_64_kib)
    assert single.status_code == 400
    assert single.json()["errorCode"] == "INVALID_CONTEXT"
    assert "larger than 65536 bytes" in single.json()["errorDetails"]
    # Over Django's own limit too (2.5 MiB): still OFREP's answer, since only 64 KiB of it is read.
    bulk = post("evaluate/flags", world.server_key, b"{" + b" " * (3 * 1024 * 1024) + b"}")
    assert (bulk.status_code, bulk.json()["errorCode"]) == (400, "INVALID_CONTEXT")


def test_a_context_of_a_few_kb_is_evaluated(world):
    context = {"targetingKey": "u1", "plan": "pro", "tags": ["t" * 100] * 40}
    assert post("evaluate/flags/new-checkout", world.client_key, {"context": context}).json()["value"] is True
