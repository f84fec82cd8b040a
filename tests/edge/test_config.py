"""GET /api/v1/sdk/config on the production web server: the published document, scoped to the
key's environment, with ETags, gzip, and never a stale or broken copy."""

import gzip
import json
import zlib

import jsonschema
import pytest

from controlplane.audit.services import SYSTEM
from controlplane.documents import cache
from controlplane.documents.services import rebuild
from controlplane.flags.services import get_state, set_archived, toggle_flag, update_flag_state
from controlplane.projects.models import SdkKey
from controlplane.projects.services import issue_sdk_key, revoke_sdk_key
from tests.documents.helpers import SCHEMA, store_one_piece
from tests.edge.helpers import WebServer
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONFIG = "/api/v1/sdk/config"


@pytest.fixture
def published(edge, checkout_flag, production, development):
    """The flag on in production with a rule and a split, published as the worker would."""
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
    rebuild(development.id)
    return rebuild(production.id)


def served_version(edge, key) -> int:
    return json.loads(edge.get(CONFIG, key).body)["version"]


def test_the_document_is_valid_against_the_published_schema(published, edge, sdk_key):
    reply = edge.get(CONFIG, sdk_key)
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/json"
    document = json.loads(reply.body)
    jsonschema.validate(document, SCHEMA)
    assert document["environment"] == "production" and document["version"] == published.version
    assert document["flags"]["new-checkout"]["default"]["split"][0] == {"variant": "on", "weight": 10_000}


def test_an_unchanged_document_answers_304_to_its_etag(published, edge, sdk_key):
    first = edge.get(CONFIG, sdk_key)
    assert first.headers["ETag"] == published.etag and not first.headers["ETag"].startswith("W/")
    second = edge.get(CONFIG, sdk_key, If_None_Match=first.headers["ETag"])
    assert (second.status, second.body, second.headers["ETag"]) == (304, b"", published.etag)


def test_a_change_is_served_as_a_new_version_and_etag(published, edge, sdk_key, checkout_flag, production):
    first = edge.get(CONFIG, sdk_key)
    toggle_flag(get_state(checkout_flag, production), SYSTEM, False, "incident")
    rebuild(production.id)
    wait_for(lambda: edge.get(CONFIG, sdk_key, If_None_Match=first.headers["ETag"]).status == 200)
    second = edge.get(CONFIG, sdk_key)
    assert json.loads(second.body)["version"] == published.version + 1
    assert json.loads(second.body)["flags"]["new-checkout"]["on"] is False
    assert second.headers["ETag"] != first.headers["ETag"]


def test_the_document_is_gzipped_for_clients_that_accept_it(published, edge, sdk_key):
    plain = edge.get(CONFIG, sdk_key)
    zipped = edge.get(CONFIG, sdk_key, Accept_Encoding="gzip")
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.body) == plain.body
    assert len(zipped.body) < len(plain.body)


def test_a_key_reads_only_its_own_environment(published, edge, development):
    _, development_key = issue_sdk_key(development, SYSTEM, "dev-service")
    document = json.loads(edge.get(CONFIG, development_key).body)
    assert document["environment"] == "development"
    assert document["flags"]["new-checkout"]["on"] is False


def test_missing_or_foreign_credentials_get_401(published, edge, write_token):
    for key in (None, write_token, "fp_srv_made-up", "fp_srv_" + "x" * 500):
        reply = edge.get(CONFIG, key)
        assert reply.status == 401, key
        assert "SDK key" in json.loads(reply.body)["detail"]
        assert reply.headers["WWW-Authenticate"] == 'Bearer realm="flagplane-sdk"'


def test_other_methods_get_405(published, edge, sdk_key):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(edge.url + CONFIG, method="POST", headers={"Authorization": f"Bearer {sdk_key}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET"


def test_archived_flags_leave_the_document(published, edge, sdk_key, checkout_flag, production):
    set_archived(checkout_flag, SYSTEM, True)
    rebuild(production.id)
    wait_for(lambda: "new-checkout" not in json.loads(edge.get(CONFIG, sdk_key).body)["flags"])


def test_a_revoked_key_gets_401_on_every_web_process_within_a_second(published, edge, sdk_key, tmp_path):
    """Two web processes that both served the key: after the revocation commits, neither
    accepts it for more than a second (the revocation is announced, not waited for)."""
    import time

    other = WebServer(tmp_path / "other.log", workers=1, EDGE_VERIFY_SECONDS="60")
    other.start()
    try:
        servers = [edge, other]
        assert all(server.get(CONFIG, sdk_key).status == 200 for server in servers for _ in range(4))
        revoke_sdk_key(SdkKey.objects.get(name="checkout-service"), SYSTEM)
        revoked_at = time.monotonic()
        for server in servers:
            wait_for(lambda server=server: all(server.get(CONFIG, sdk_key).status == 401 for _ in range(4)), 5, 0.02)
        assert time.monotonic() - revoked_at < 1.0
    finally:
        other.stop()


def test_the_last_use_of_a_key_is_recorded(published, edge, sdk_key):
    assert edge.get(CONFIG, sdk_key).status == 200
    wait_for(lambda: SdkKey.objects.get(name="checkout-service").last_used_at is not None, timeout=15)


def test_a_corrupt_redis_copy_is_never_served_and_is_repaired(published, edge, sdk_key, production, tmp_path):
    """A fresh web process (nothing in memory) finds the Redis copy corrupt: it serves
    PostgreSQL's document and puts a good copy back."""
    healthy = edge.get(CONFIG, sdk_key).body
    cache.client().hset(cache.document_key(production.uid), "deflate", zlib.compress(b'{"broken": true}')[2:-4])
    fresh = WebServer(tmp_path / "fresh.log", workers=1)
    fresh.start()
    try:
        reply = fresh.get(CONFIG, sdk_key)
        assert (reply.status, reply.body) == (200, healthy)
        copy = cache.get(production.uid)
        assert copy is not None and copy.body == healthy
    finally:
        fresh.stop()


def test_an_older_redis_copy_never_replaces_the_served_document(published, edge, sdk_key, production):
    """Redis restored from an older snapshot: web processes keep serving the newer document (a
    process that had none reads PostgreSQL's, which is newer), and the copy is put back (by that
    process, or by the reconciler)."""
    from controlplane.documents.services import reconcile

    assert served_version(edge, sdk_key) == published.version
    store_one_piece(production.uid, published.version - 1, '"older"', b'{"older": true}', force=True)
    cache.publish(b'{"type":"document","environment":"%s","version":%d}' % (str(production.uid).encode(), 0))
    for _ in range(10):
        assert served_version(edge, sdk_key) == published.version
    # The reconciler runs every few seconds; a run that finds a build holding the lock leaves it to the next.
    wait_for(lambda: reconcile() and cache.get(production.uid).version == published.version)


def test_with_redis_down_the_document_and_keys_come_from_postgresql(published, edge, sdk_key, tmp_path):
    healthy = edge.get(CONFIG, sdk_key)
    no_redis = WebServer(tmp_path / "no-redis.log", workers=1, REDIS_URL="redis://127.0.0.1:1/0")
    no_redis.start()
    try:
        reply = no_redis.get(CONFIG, sdk_key)
        assert (reply.status, reply.body, reply.headers["ETag"]) == (200, healthy.body, healthy.headers["ETag"])
        assert no_redis.get(CONFIG, "fp_srv_made-up").status == 401
    finally:
        no_redis.stop()


def test_with_postgresql_unreachable_the_document_and_stream_come_from_redis(published, edge, sdk_key, tmp_path):
    """A web process whose database cannot be reached (a port nothing listens on) still serves
    a key and document it never saw before, from Redis, and opens streams."""
    import urllib.request

    healthy = edge.get(CONFIG, sdk_key)
    no_postgres = WebServer(
        tmp_path / "no-postgres.log", workers=1, DATABASE_URL="postgres://postgres@127.0.0.1:1/flagplane"
    )
    no_postgres.start()
    try:
        reply = no_postgres.get(CONFIG, sdk_key)
        assert (reply.status, reply.body, reply.headers["ETag"]) == (200, healthy.body, healthy.headers["ETag"])
        request = urllib.request.Request(
            no_postgres.url + "/api/v1/sdk/stream", headers={"Authorization": f"Bearer {sdk_key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as stream:
            assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
            received = b""
            while b"event: put" not in received:
                chunk = stream.read1()
                assert chunk, received
                received += chunk
    finally:
        no_postgres.stop()


def test_an_address_guessing_keys_gets_429_and_known_keys_keep_working(published, sdk_key, production, tmp_path):
    """Wrong keys count per client address (the REST API's bucket); once it is used up, no new
    key is looked up for that address until it refills, while keys the process already
    verified are still served."""
    limited = WebServer(tmp_path / "limited.log", workers=1, THROTTLE_AUTH_FAILURES="3/min")
    limited.start()
    try:
        assert limited.get(CONFIG, sdk_key).status == 200
        assert [limited.get(CONFIG, f"fp_srv_guess-{n}").status for n in range(3)] == [401] * 3
        refused = limited.get(CONFIG, "fp_srv_guess-4")
        assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= 20
        assert json.loads(refused.body)["detail"] == "Too many wrong credentials from your address."
        _, other_key = issue_sdk_key(production, SYSTEM, "another-service")
        assert limited.get(CONFIG, other_key).status == 429  # not looked up while guessing
        assert limited.get(CONFIG, sdk_key).status == 200
    finally:
        limited.stop()


def test_document_requests_are_limited_per_key_with_retry_after(published, sdk_key, tmp_path):
    limited = WebServer(tmp_path / "limited.log", workers=1, THROTTLE_SDK_POLLS="3/min")
    limited.start()
    try:
        assert [limited.get(CONFIG, sdk_key).status for _ in range(3)] == [200] * 3
        refused = limited.get(CONFIG, sdk_key)
        assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= 20
        assert "with this SDK key" in json.loads(refused.body)["detail"]
    finally:
        limited.stop()


def test_past_capacity_requests_are_shed_with_retry_after(published, sdk_key, tmp_path):
    full = WebServer(tmp_path / "full.log", workers=1, EDGE_MAX_INFLIGHT="0")
    full.start()
    try:
        reply = full.get(CONFIG, sdk_key)
        assert reply.status == 503 and 1 <= int(reply.headers["Retry-After"]) <= 3
        assert "capacity" in json.loads(reply.body)["detail"]
        assert full.get("/admin/login/").status == 200  # people's pages are not shed
    finally:
        full.stop()
