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
    """Store the document just built (the caller holds the document row's lock)."""
    try:
        client().hset(_key(environment_uid), mapping={"etag": etag, "body": body})
    except redis.RedisError as exc:
        logger.warning("Could not cache SDK document %s in Redis: %s", environment_uid, exc)


_PUT_IF_ABSENT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('HSET', KEYS[1], 'etag', ARGV[1], 'body', ARGV[2])
end
"""


def put_if_absent(environment_uid: UUID, etag: str, body: str) -> None:
    """Warm a cold cache with a document read without the lock; never overwrites a build's copy."""
    try:
        client().eval(_PUT_IF_ABSENT, 1, _key(environment_uid), etag, body)
    except redis.RedisError as exc:
        logger.warning("Could not cache SDK document %s in Redis: %s", environment_uid, exc)
