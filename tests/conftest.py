"""Fixtures shared by every test: a project with environments, people, tokens and SDK keys.

Objects are created through the same domain services the product uses.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from controlplane.accounts.services import issue_api_token
from controlplane.audit.services import SYSTEM, Actor
from controlplane.flags.services import create_flag
from controlplane.projects.services import create_project, issue_sdk_key
from tests.helpers import wait_until_worker_idle

pytest_plugins = ["tests.shop"]


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("alice", "alice@example.com", "correct horse battery")


@pytest.fixture
def project(db):
    return create_project(SYSTEM, key="shop", name="Shop", environments=["development", "production"])


@pytest.fixture
def production(project):
    return project.environments.get(key="production")


@pytest.fixture
def development(project):
    return project.environments.get(key="development")


@pytest.fixture
def write_token(admin_user):
    _, plaintext = issue_api_token(admin_user, Actor.for_user(admin_user), name="ci", scope="write")
    return plaintext


@pytest.fixture
def read_token(admin_user):
    _, plaintext = issue_api_token(admin_user, Actor.for_user(admin_user), name="dashboard", scope="read")
    return plaintext


@pytest.fixture
def api(write_token) -> APIClient:
    """An API client authenticated with a write-scoped token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {write_token}")
    return client


@pytest.fixture
def sdk_key(production) -> str:
    _, plaintext = issue_sdk_key(production, SYSTEM, "checkout-service")
    return plaintext


@pytest.fixture
def checkout_flag(project):
    """A boolean flag, off everywhere."""
    return create_flag(project, SYSTEM, key="new-checkout", name="New checkout")


@pytest.fixture
def layout_flag(project):
    """A multivariate string flag."""
    return create_flag(
        project,
        SYSTEM,
        key="checkout-layout",
        kind="multivariate",
        variant_type="string",
        variants=[{"key": "control", "value": "control"}, {"key": "compact", "value": "compact"}],
        off_variant="control",
    )


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """Every test starts with full rate-limit buckets: they count per address, and every test
    client is 127.0.0.1. The keys carry this test process's id (settings/test.py)."""
    yield
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=settings.RATELIMIT_KEY_PREFIX + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker of this test's own, consuming the test queue on the real Redis broker.

    It runs in a thread of the test process so it uses the test database; tests that need it
    must commit their data (``transactional_db`` or ``live_server``). The queue is emptied when it
    starts, so it runs nothing an earlier test left queued (an action's evaluation, a build). When
    the test ends, failed or not, it runs what the test queued (flushing the tables under a running
    task deadlocks) and stops: no later test has a worker it did not ask for.
    """
    from celery.contrib.testing.worker import start_worker

    from controlplane.celery import app

    app.control.purge()
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING") as worker,
    ):
        try:
            yield worker
        finally:
            wait_until_worker_idle()
    app.control.purge()


@pytest.fixture(scope="session")
def edge_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The production web server (uvicorn + edge + Django) on the test database, for the whole
    session; tests that use it must commit their data (``edge`` does)."""
    from tests.edge.helpers import WebServer

    server = WebServer(tmp_path_factory.mktemp("edge") / "uvicorn.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def edge(edge_server, transactional_db):
    """The session's web server, for a test whose data is committed (``transactional_db``)."""
    return edge_server
