"""The Redis copy of each environment's SDK document. Redis failures never propagate."""

from __future__ import annotations

import logging
from functools import lru_cache
from uuid import UUID

import redis
from django.conf import settings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def client() -> redis.Redis:
    return _client(settings.REDIS_URL, settings.REDIS_TIMEOUT_S)


def _key(environment_uid: UUID) -> str:
    # The UUID, not the row id: a recreated database must never be served a stale cached document.
    return f"flagplane:document:{environment_uid}"


def get(environment_uid: UUID) -> tuple[str, str] | None:
    """(etag, body) from Redis, or None when absent or Redis is unreachable."""
    try:
        etag, body = client().hmget(_key(environment_uid), ["etag", "body"])
    except redis.RedisError as exc:
        logger.warning("Redis unavailable for SDK document %s, serving from PostgreSQL: %s", environment_uid, exc)
        return None
    if etag is None or body is None:
        return None
    return etag.decode(), body.decode()


def put(environment_uid: UUID, etag: str, body: str) -> None:
    try:
        client().hset(_key(environment_uid), mapping={"etag": etag, "body": body})
    except redis.RedisError as exc:
        logger.warning("Could not cache SDK document %s in Redis: %s", environment_uid, exc)
