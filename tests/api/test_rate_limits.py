"""Wrong credentials, and too many requests, get 429 with Retry-After; the buckets live in Redis."""

import pytest
from rest_framework.test import APIClient

from controlplane.ratelimit import Buckets, Limit, client_address

FLAGS = "/api/v1/projects/shop/flags/"
WRONG_TOKEN = "fp_api_" + "x" * 43
WRONG_SDK_KEY = "fp_srv_" + "x" * 43


def client(token: str, address: str = "203.0.113.7") -> APIClient:
    api = APIClient(REMOTE_ADDR=address)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@pytest.mark.django_db
def test_after_twenty_wrong_tokens_an_address_gets_429_even_with_a_right_one(project, write_token):
    guesser = client(WRONG_TOKEN)
    assert [guesser.get(FLAGS).status_code for _ in range(20)] == [401] * 20
    refused = guesser.get(FLAGS)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3  # the next failure is allowed in 3 s (20/min)
    assert refused.json()["detail"].startswith("Too many wrong credentials")
    assert client(write_token).get(FLAGS).status_code == 429  # a right token from that address waits too
    assert client(write_token, address="198.51.100.20").get(FLAGS).status_code == 200


@pytest.mark.django_db
def test_wrong_sdk_keys_count_the_same_way(sdk_key):
    batch = {"sdk": "python/test", "batch_id": "0" * 32, "entries": []}
    guesser = client(WRONG_SDK_KEY)
    assert {guesser.post("/api/v1/metrics", batch, format="json").status_code for _ in range(20)} == {401}
    assert guesser.post("/api/v1/metrics", batch, format="json").status_code == 429
    assert client(WRONG_TOKEN).get(FLAGS).status_code == 429  # one count per address for both kinds


@pytest.mark.django_db
def test_a_token_has_its_own_request_budget(settings, project, write_token, read_token):
    settings.THROTTLE_API = Limit.parse("3/hour")
    busy = client(write_token)
    assert [busy.get(FLAGS).status_code for _ in range(3)] == [200] * 3
    throttled = busy.get(FLAGS)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) == 1200  # one request per 20 minutes
    assert client(read_token).get(FLAGS).status_code == 200  # another token, another bucket


@pytest.mark.django_db
def test_a_signed_in_person_has_a_budget_too(settings, project, admin_client):
    settings.THROTTLE_API = Limit.parse("2/min")
    assert [admin_client.get(FLAGS).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.django_db
def test_metric_reports_are_limited_per_sdk_key(settings, sdk_key):
    settings.THROTTLE_SDK_METRICS = Limit.parse("2/min")
    sdk = client(sdk_key)
    statuses = [sdk.post("/api/v1/metrics", {"entries": []}, format="json").status_code for _ in range(3)]
    assert 429 not in statuses[:2] and statuses[2] == 429


@pytest.mark.django_db
def test_anonymous_schema_reads_are_limited_per_address(settings):
    settings.THROTTLE_ANONYMOUS = Limit.parse("1/min")
    anonymous = APIClient(REMOTE_ADDR="203.0.113.7")
    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/schema/").status_code == 429
    assert APIClient(REMOTE_ADDR="198.51.100.20").get("/api/schema/").status_code == 200


def test_a_bucket_holds_its_capacity_and_looking_spends_nothing(settings):
    import redis

    buckets = Buckets(redis.Redis.from_url(settings.REDIS_URL), settings.RATELIMIT_KEY_PREFIX)
    limit = Limit.parse("2/s")
    assert buckets.take("refill", limit) == 0.0
    assert buckets.take("refill", limit) == 0.0
    wait = buckets.take("refill", limit)
    assert 0 < wait <= 0.5
    assert buckets.wait("refill", limit) > 0  # looking spends nothing
    assert buckets.take("refill", limit, cost=3) > 0  # more than the bucket holds: never allowed at once


def test_when_redis_is_unreachable_requests_are_let_through():
    import redis

    unreachable = Buckets(redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2), "x:")
    assert unreachable.take("any", Limit.parse("1/hour")) == 0.0


def test_limits_and_addresses_are_read_strictly():
    assert Limit.parse("20/min") == Limit(20, 20 / 60)
    for bad in ("20", "20/day", "0/s", "x/min"):
        with pytest.raises(ValueError):
            Limit.parse(bad)
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.7", 1) == "203.0.113.7"
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.7", 0) == "10.0.0.5"  # not trusted: ignored
    assert client_address("10.0.0.5", "not-an-address", 1) == "10.0.0.5"
