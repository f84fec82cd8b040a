"""The Redis copy of each environment's published document, and the events that announce it.

Layout (every name starts with ``settings.REDIS_PREFIX``):

* ``<prefix>:doc:<environment uid>``, a hash: ``version``, ``etag``, ``sha`` (SHA-256 of the JSON
  body), ``crc`` and ``size`` of the body, and ``deflate``: the body compressed once as a
  deflate segment (``documents.assembly``). A copy is only ever replaced by a newer version,
  except by a repair (``force``), which holds the environment's publication lock.
* ``<prefix>:patches:<environment uid>``, a list of the latest patch events, newest first.
* ``<prefix>:events``, the pub/sub channel every web process listens to (``documents.events``).

Redis failures never propagate to callers: they log and report nothing stored or found.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

import redis
from django.conf import settings

from controlplane.documents import assembly

logger = logging.getLogger(__name__)

PATCH_HISTORY = 100
"""Patch events kept per environment, for streams resuming with Last-Event-ID."""


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def client() -> redis.Redis:
    return _client(settings.REDIS_URL, settings.REDIS_TIMEOUT_S)


def document_key(environment_uid: UUID | str) -> str:
    # The UUID, not the row id: a recreated database must never be served a stale cached document.
    return f"{settings.REDIS_PREFIX}:doc:{environment_uid}"


def patches_key(environment_uid: UUID | str) -> str:
    return f"{settings.REDIS_PREFIX}:patches:{environment_uid}"


def events_channel() -> str:
    return f"{settings.REDIS_PREFIX}:events"


@dataclass(frozen=True)
class CachedDocument:
    """A verified copy: its body hashes to the recorded SHA-256."""

    version: int
    etag: str
    body: bytes
    deflate: bytes
    crc: int


FIELDS = ("version", "etag", "sha", "deflate", "crc", "size")


def decode(values: list[bytes | None]) -> CachedDocument | None:
    """A copy read as ``HMGET key *FIELDS``, verified; None if absent, partial or corrupt."""
    if any(value is None for value in values):
        return None
    version, etag, sha, deflate, crc, size = values
    try:
        body = assembly.inflate_segment(deflate)  # type: ignore[arg-type]
        document = CachedDocument(int(version), etag.decode(), body, deflate, int(crc))  # type: ignore[arg-type, union-attr]
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None
    if len(body) != int(size) or hashlib.sha256(body).hexdigest() != sha.decode():  # type: ignore[arg-type, union-attr]
        return None
    return document


def get(environment_uid: UUID | str) -> CachedDocument | None:
    """The verified copy, or None when absent, corrupt, or Redis is unreachable."""
    try:
        values = client().hmget(document_key(environment_uid), FIELDS)
    except redis.RedisError as exc:
        logger.warning("Redis unavailable for SDK document %s: %s", environment_uid, exc)
        return None
    return decode(values)


def header(environment_uid: UUID | str) -> tuple[int, str] | None:
    """(version, etag) of the copy without reading its body; None if absent or unreachable."""
    try:
        version, etag = client().hmget(document_key(environment_uid), ["version", "etag"])
    except redis.RedisError:
        return None
    if version is None or etag is None:
        return None
    return int(version), etag.decode()


_STORE = """
local current = redis.call('HGET', KEYS[1], 'version')
if current and ARGV[7] ~= '1' and tonumber(current) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'etag', ARGV[2], 'sha', ARGV[3],
           'deflate', ARGV[4], 'crc', ARGV[5], 'size', ARGV[6])
redis.call('PUBLISH', KEYS[2], ARGV[8])
return 1
"""


def store(environment_uid: UUID | str, version: int, etag: str, body: bytes, event: bytes, force: bool = False) -> bool:
    """Store a copy unless Redis already has this version or a newer one (``force``: replace it
    anyway, for repairs), and announce it with ``event`` on the channel. True if stored."""
    segment = assembly.deflate_segment(body)
    try:
        stored = client().eval(
            _STORE,
            2,
            document_key(environment_uid),
            events_channel(),
            version,
            etag,
            hashlib.sha256(body).hexdigest(),
            segment,
            zlib.crc32(body),
            len(body),
            "1" if force else "0",
            event,
        )
    except redis.RedisError as exc:
        logger.warning("Could not cache SDK document %s v%s in Redis: %s", environment_uid, version, exc)
        return False
    return bool(stored)


def publish_patch(environment_uid: UUID | str, event: bytes) -> bool:
    """Keep a patch event in the environment's history and announce it. True if done."""
    key = patches_key(environment_uid)
    try:
        with client().pipeline(transaction=True) as pipe:
            pipe.lpush(key, event).ltrim(key, 0, PATCH_HISTORY - 1).publish(events_channel(), event)
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("Could not publish a patch for SDK document %s: %s", environment_uid, exc)
        return False
    return True


def publish(event: bytes) -> bool:
    try:
        client().publish(events_channel(), event)
    except redis.RedisError as exc:
        logger.warning("Could not publish an event: %s", exc)
        return False
    return True


def headers(environment_uids: list[str]) -> dict[str, tuple[int, str] | None]:
    """(version, etag) of many copies in one round trip; raises RedisError."""
    with client().pipeline(transaction=False) as pipe:
        for uid in environment_uids:
            pipe.hmget(document_key(uid), ["version", "etag", "sha"])
        replies = pipe.execute()
    result: dict[str, tuple[int, str] | None] = {}
    for uid, (version, etag, sha) in zip(environment_uids, replies, strict=True):
        result[uid] = None if version is None or etag is None or sha is None else (int(version), etag.decode())
    return result
