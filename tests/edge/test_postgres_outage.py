"""PostgreSQL down under the running production web server (on a private PostgreSQL and a
private Redis, tests/edge/postgres.py): SDKs are still served and keys still checked.

Two outages: ``stopped`` (a fast shutdown; connections refused) and ``frozen`` (SIGSTOP to the
whole cluster; connections accepted and never answered).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from django.conf import settings

from tests.edge.faults import PrivateRedis, wait_until
from tests.edge.helpers import WebServer
from tests.edge.postgres import PrivatePostgres, in_django

pytestmark = pytest.mark.integration

CONFIG = "/api/v1/sdk/config"
STREAM = "/api/v1/sdk/stream"
MODES = ["stopped", "frozen"]


@pytest.fixture(scope="module")
def private_postgres():
    server = PrivatePostgres()
    try:
        server.start()
        server.migrate()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database(private_postgres) -> str:
    """A database of this test's own, copied from the migrated one."""
    return private_postgres.database()


@pytest.fixture
def private(database, private_redis) -> dict[str, str]:
    """Settings of every process of a test: the private PostgreSQL database and Redis."""
    return {
        "DATABASE_URL": database,
        "REDIS_URL": private_redis.url,
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_QUEUE": f"{settings.CELERY_TASK_DEFAULT_QUEUE}-outage",
        "SDK_STREAM_HEARTBEAT_S": "1",
    }


@pytest.fixture
def web(private, tmp_path):
    server = WebServer(tmp_path / "uvicorn.log", workers=1, **private)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def seeded(private) -> dict:
    """Project ``shop``, ``new-checkout`` on in production, and two SDK keys (tests/edge/postgres.py)."""
    return in_django("tests.edge.postgres:seed_checkout", **private)


@contextlib.contextmanager
def outage(postgres: PrivatePostgres, mode: str) -> Iterator[None]:
    if mode == "stopped":
        postgres.stop()
    else:
        postgres.freeze()
    try:
        yield
    finally:
        if mode == "stopped":
            postgres.start()
        else:
            postgres.thaw()


class Events:
    """An open SSE connection, read as far as the test asks."""

    def __init__(self, url: str, key: str) -> None:
        request = urllib.request.Request(url + STREAM, headers={"Authorization": f"Bearer {key}"})
        self.response = urllib.request.urlopen(request, timeout=10)
        self.received = b""

    def read_until(self, needle: bytes, timeout: float = 30) -> None:
        """Read until ``needle`` arrives (heartbeats come every second, so each read returns)."""
        start, deadline = len(self.received), time.monotonic() + timeout
        while needle not in self.received[start:]:
            assert time.monotonic() < deadline, f"no {needle!r} within {timeout:g} s: {self.received[start:]!r}"
            chunk = self.response.read1()
            assert chunk, self.received
            self.received += chunk

    def close(self) -> None:
        self.response.close()


@pytest.mark.parametrize("mode", MODES)
def test_with_postgresql_down_sdks_are_served_and_keys_checked_from_redis(
    private_postgres, private, web, seeded, mode, tmp_path
):
    """Config (200 and 304), streams already open and new ones, a revoked key refused and a
    valid one served, also by a web process started during the outage; and after it, a change
    is published again."""
    valid, revoked = seeded["sdk_key"], seeded["revoked_key"]
    healthy = web.get(CONFIG, valid)
    assert healthy.status == 200 and json.loads(healthy.body)["version"] == seeded["version"]
    assert web.get(CONFIG, revoked).status == 200
    in_django("tests.edge.postgres:revoke", revoked, **private)
    wait_until(lambda: web.get(CONFIG, revoked).status == 401, 10, "the revocation")
    before = Events(web.url, valid)
    before.read_until(b"event: put")

    with outage(private_postgres, mode):
        reply = web.get(CONFIG, valid)
        assert (reply.status, reply.body, reply.headers["ETag"]) == (200, healthy.body, healthy.headers["ETag"])
        assert web.get(CONFIG, valid, If_None_Match=healthy.headers["ETag"]).status == 304
        assert web.get(CONFIG, revoked).status == 401
        before.read_until(b": ping")  # the stream opened before the outage is still fed
        during = Events(web.url, valid)
        during.read_until(b"event: put")
        during.close()
        unknown = web.get(CONFIG, "fp_srv_nobody-issued-this")
        assert unknown.status == 503 and unknown.headers["Retry-After"]  # cannot be verified, not refused
        # A process started during the outage knows nothing yet: keys and document from Redis.
        fresh = WebServer(tmp_path / "fresh.log", workers=1, **private)
        fresh.start()
        try:
            reply = fresh.get(CONFIG, valid)
            assert (reply.status, reply.body) == (200, healthy.body)
            assert fresh.get(CONFIG, revoked).status == 401
        finally:
            fresh.stop()

    in_django("tests.edge.postgres:toggle_checkout", False, **private)
    before.read_until(b"event: patch")
    before.close()
    assert json.loads(web.get(CONFIG, valid).body)["flags"]["new-checkout"]["on"] is False
