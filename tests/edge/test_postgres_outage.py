"""PostgreSQL down under the running stack (the production web server, a Celery worker and beat,
on a private PostgreSQL and a private Redis, tests/edge/postgres.py): SDKs are still served and
keys still checked, and the health signals SDKs send meanwhile all reach PostgreSQL once it is back.

Two outages: ``stopped`` (a fast shutdown; connections refused) and ``frozen`` (SIGSTOP to the
whole cluster; connections accepted and never answered). ``PG_OUTAGE_SECONDS`` sets how long the
health-signal outage lasts (10 s unless set; ``PG_OUTAGE_SECONDS=60`` for the issue's minute).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest
from django.conf import settings

import flagplane
from controlplane.metrics import inbox
from tests.edge.faults import Stack, wait_until
from tests.edge.helpers import Events, WebServer
from tests.edge.postgres import PrivatePostgres, in_django, query

pytestmark = pytest.mark.integration

CONFIG = "/api/v1/sdk/config"
MODES = ["stopped", "frozen"]
OUTAGE_S = float(os.environ.get("PG_OUTAGE_SECONDS", "10"))
FLUSH_S = 1.0


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
def stack(private, private_redis, tmp_path):
    parts = Stack(tmp_path, private_redis, METRICS_INBOX_DRAIN_SECONDS="1", **private)
    parts.start()
    yield parts
    parts.stop()


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


@pytest.mark.parametrize("mode", MODES)
def test_with_postgresql_down_sdks_are_served_and_keys_checked_from_redis(
    private_postgres, private_redis, private, web, seeded, mode, tmp_path
):
    """Config (200 and 304), streams already open and new ones, a revoked key refused and a
    valid one served, also by a web process started during the outage, and from memory when
    Redis is frozen too; after it, a change is published again."""
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
        # Redis frozen as well: what this process knows, from its memory; a revoked key never.
        private_redis.freeze()
        try:
            for _ in range(3):
                reply = web.get(CONFIG, valid, If_None_Match=healthy.headers["ETag"])
                assert (reply.status, reply.headers["ETag"]) == (304, healthy.headers["ETag"])
            assert web.get(CONFIG, valid).body == healthy.body
            assert web.get(CONFIG, revoked).status in (401, 503)
            before.read_until(b": ping")
        finally:
            private_redis.thaw()

    in_django("tests.edge.postgres:toggle_checkout", False, **private)
    before.read_until(b"event: patch")
    before.close()
    assert json.loads(web.get(CONFIG, valid).body)["flags"]["new-checkout"]["on"] is False


class Traffic(threading.Thread):
    """An application guarding its checkout with the flag, steadily: every 7th block fails.
    It counts what it did, to compare with what the control plane counted."""

    def __init__(self, client: flagplane.Client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.evaluations = self.errors = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.002):
            self.evaluations += 1
            with (
                contextlib.suppress(CheckoutFailed),
                self.client.guard("new-checkout", {"key": f"user-{self.evaluations}"}),
            ):
                if self.evaluations % 7 == 0:
                    self.errors += 1
                    raise CheckoutFailed

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)


class CheckoutFailed(Exception):
    pass


class Counted(NamedTuple):
    """What the control plane has counted for an environment."""

    evaluations: int
    successes: int
    errors: int
    batches: int
    dropped: int
    """As the SDKs reported it: what they could not keep for sending."""


def counted(database: str, environment_id: int) -> Counted:
    [signals] = query(
        database,
        "SELECT coalesce(sum(evaluations), 0), coalesce(sum(successes), 0), coalesce(sum(errors), 0)"
        " FROM metrics_metricbucket WHERE environment_id = %s",
        environment_id,
    )
    [batches] = query(
        database,
        "SELECT count(*), coalesce(sum(dropped), 0) FROM metrics_metricbatch WHERE environment_id = %s",
        environment_id,
    )
    return Counted(*(int(value) for value in (*signals, *batches)))


@pytest.mark.timeout(300 + 3 * OUTAGE_S)
@pytest.mark.parametrize("mode", MODES)
def test_health_signals_sent_during_an_outage_all_reach_postgresql(
    private_postgres, stack, seeded, database, mode, tmp_path
):
    """An SDK flushing every second through a PostgreSQL outage: once it is over, every
    evaluation and every error it recorded is counted, exactly once."""
    environment_id = seeded["environment_id"]
    client = flagplane.Client(
        sdk_key=seeded["sdk_key"], base_url=stack.web.url, metrics_flush_interval=FLUSH_S,
        cache_path=tmp_path / "flags.json",
    )  # fmt: skip
    traffic = Traffic(client)
    try:
        assert client.wait_until_ready(30)
        traffic.start()
        wait_until(lambda: counted(database, environment_id).batches > 0, 60, "a first batch counted")
        parked = 0
        with outage(private_postgres, mode):
            began = time.monotonic()
            while time.monotonic() - began < OUTAGE_S:  # the outage itself: what is measured is its length
                parked = max(parked, inbox_length(stack))
                time.sleep(0.2)
        ended = time.monotonic()
        wait_until(lambda: inbox_length(stack) == 0, 120, "the parked batches drained")
    finally:
        traffic.stop()
    wait_until(client.flush_metrics, 120, "the SDK has sent everything")
    client.close()
    recorded = (traffic.evaluations, traffic.evaluations - traffic.errors, traffic.errors)

    def all_counted() -> bool:
        return counted(database, environment_id)[:3] == recorded

    wait_until(all_counted, 120, f"(evaluations, successes, errors) = {recorded} counted")
    complete_after_s = time.monotonic() - ended
    final = counted(database, environment_id)
    assert final.dropped == 0
    print(
        f"\npg-outage-metrics: mode={mode} outage_s={OUTAGE_S:g} flush_s={FLUSH_S:g} evaluations={final.evaluations}"
        f" errors={final.errors} batches={final.batches} parked_max={parked} lost=0"
        f" complete_after_s={complete_after_s:.1f}"
    )


def inbox_length(stack: Stack) -> int:
    client = stack.redis.client()
    return client.llen(inbox.inbox_key()) + client.llen(inbox.processing_key())
