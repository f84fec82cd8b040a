"""/healthz and /readyz: unauthenticated, tiny answers, "not ready" quickly when a dependency is down."""

from __future__ import annotations

import socket
import time

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from controlplane.health import checks
from tests.helpers import free_port

pytestmark = pytest.mark.django_db

TIMEOUT_S = 0.5
# Far above TIMEOUT_S (a loaded machine), far below the "never" of a client without a timeout.
QUICKLY_S = 5.0


@pytest.fixture(autouse=True)
def short_timeout(settings):
    settings.HEALTH_CHECK_TIMEOUT_S = TIMEOUT_S


def readyz(client, **settings):
    """GET /readyz with these settings: (response, seconds it took, the check that failed)."""
    with override_settings(**settings):
        started = time.monotonic()
        response = client.get("/readyz")
        return response, time.monotonic() - started, checks.readiness().failed


def test_healthz_answers_ok_without_touching_a_dependency(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_probes_answer_a_pod_ip_host_that_is_not_an_allowed_host(client):
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/admin/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_probes_are_answered_over_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # kubelet probes a pod over HTTP; the ingress ends TLS
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/admin/login/").status_code == 301


def test_readyz_is_ready_when_postgresql_redis_and_the_broker_answer(client, private_redis):
    response, _, _ = readyz(client, REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_with_redis_hung_answers_not_ready_quickly_and_says_nothing_more(client, private_redis):
    private_redis.freeze()
    response, elapsed, failed = readyz(client, REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert elapsed < QUICKLY_S
    assert failed == "redis"

    private_redis.thaw()
    response, _, _ = readyz(client, REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    assert response.status_code == 200


def test_readyz_with_redis_gone_answers_not_ready_quickly(client, private_redis):
    private_redis.kill()
    response, elapsed, failed = readyz(client, REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url)
    assert response.status_code == 503
    assert elapsed < QUICKLY_S
    assert failed == "redis"


def test_readyz_checks_a_separate_broker_too(client, private_redis):
    private_redis.kill()
    response, elapsed, failed = readyz(client, CELERY_BROKER_URL=private_redis.url)
    assert response.status_code == 503
    assert elapsed < QUICKLY_S
    assert failed == "broker"


def test_readyz_with_an_amqp_broker_that_does_not_answer_is_not_ready(client):
    response, elapsed, failed = readyz(client, CELERY_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}//")
    assert response.status_code == 503
    assert elapsed < QUICKLY_S
    assert failed == "broker"


def test_readyz_with_a_reachable_rabbitmq_broker_is_ready(client):
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 on this machine")
    response, _, _ = readyz(client, CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    assert response.status_code == 200


def test_readyz_is_not_ready_while_a_migration_is_not_applied(client, monkeypatch):
    monkeypatch.setattr(checks, "_migrations_applied", False)
    latest = MigrationRecorder.Migration.objects.filter(app="rollouts").order_by("-id").first()
    latest.delete()  # as if this code were newer than the database (the migration job has not run yet)

    assert client.get("/readyz").status_code == 503
    assert checks.readiness().failed == "migrations"

    MigrationRecorder.Migration.objects.create(app=latest.app, name=latest.name)
    assert client.get("/readyz").status_code == 200
