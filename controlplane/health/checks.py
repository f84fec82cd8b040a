"""Liveness and readiness as plain functions: the Django views and the ASGI edge both call them.

``alive()`` says the process can answer at all; it touches nothing. ``readiness()`` says whether
this process can do its job now: PostgreSQL answers, Redis answers, the Celery broker answers and
every migration this code knows is applied. Each check waits at most HEALTH_CHECK_TIMEOUT_S for a
network answer, and the first failure ends the round, so "not ready" comes back quickly. The
result names the failed check for the logs; the HTTP answer never shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from kombu import Connection

logger = logging.getLogger(__name__)

_redis_clients: dict[tuple[str, float], redis.Redis] = {}
_migrations_applied = False


@dataclass(frozen=True)
class Readiness:
    ready: bool
    failed: str = ""
    """The name of the check that failed ("" when ready): for logs, never for HTTP answers."""


def alive() -> bool:
    """The process runs and can answer: nothing else is checked, so a slow dependency never restarts it."""
    return True


def readiness() -> Readiness:
    """Run the checks in order; the first that fails makes the process not ready."""
    for name, check in _checks():
        try:
            check()
        except Exception as exc:  # any failure means "not ready"; what it was goes to the log only
            logger.warning("Not ready: the %s check failed: %r", name, exc, extra={"check": name})
            if name in ("postgresql", "migrations") and not connection.in_atomic_block:
                connection.close()  # the next round connects again instead of reusing a broken connection
            return Readiness(ready=False, failed=name)
    return Readiness(ready=True)


def _checks() -> list[tuple[str, Callable[[], None]]]:
    checks = [("redis", lambda: check_redis(settings.REDIS_URL))]
    broker = settings.CELERY_BROKER_URL
    if broker and broker != settings.REDIS_URL:
        checks.append(("broker", lambda: check_broker(broker)))
    checks += [("postgresql", check_postgresql), ("migrations", check_migrations)]
    return checks


def _timeout() -> float:
    return settings.HEALTH_CHECK_TIMEOUT_S


def check_redis(url: str) -> None:
    key = (url, _timeout())
    client = _redis_clients.get(key)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=key[1], socket_timeout=key[1])
        _redis_clients[key] = client
    if not client.ping():
        raise RuntimeError("PING was not answered with PONG")


def check_broker(url: str) -> None:
    """The Celery broker, when it is not the Redis already checked (RabbitMQ, another Redis)."""
    if urlsplit(url).scheme in ("redis", "rediss"):
        check_redis(url)
        return
    with Connection(url, connect_timeout=_timeout()) as broker:
        broker.ensure_connection(max_retries=0, timeout=_timeout())


def check_postgresql() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_migrations() -> None:
    """Every migration of this code is applied. Once true it stays true for this process (the
    migrations on disk do not change while it runs), so later rounds skip the disk and the query."""
    global _migrations_applied
    if _migrations_applied:
        return
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        raise DatabaseError(f"{len(pending)} migrations are not applied yet, e.g. {pending[0][0]}")
    _migrations_applied = True
