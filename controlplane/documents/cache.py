"""The Redis copy of each environment's published document, and the events that announce it.

Layout (every name starts with ``settings.REDIS_PREFIX``):

* ``<prefix>:doc:<environment uid>``, a hash: ``version``, ``etag``, ``deflate`` (the JSON body
  compressed, as deflate segments, one per piece of ``documents.layout``), ``manifest`` (the
  pieces), ``size`` of the body, and ``sha``: SHA-256 of the manifest and the compressed body,
  checked before either is used. A copy is only ever replaced by a newer version, except by a
  repair (``force``), which holds the environment's publication lock; a publication that
  re-compressed only the changed pieces replaces exactly the copy it started from.
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

from controlplane.documents import assembly, layout

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
    """A verified copy: its manifest and compressed body hash to the recorded SHA-256, and the
    body inflates to the recorded size."""

    version: int
    etag: str
    body: bytes
    deflate: bytes
    crc: int


@dataclass(frozen=True)
class StoredLayout:
    """A verified copy, cut into its pieces, to update in place."""

    version: int
    etag: str
    sha: str
    layout: layout.Layout


FIELDS = ("version", "etag", "sha", "manifest", "deflate", "size")


def checksum(manifest: bytes, deflate: bytes) -> str:
    return hashlib.sha256(manifest + b"\n" + deflate).hexdigest()  # a JSON manifest has no raw newline


def _verified(values: list[bytes | None]) -> list[bytes] | None:
    """A copy read as ``HMGET key *FIELDS`` whose manifest and body hash to its recorded SHA-256;
    None if absent, partial or corrupt."""
    present = [value for value in values if value is not None]
    if len(present) != len(FIELDS):
        return None
    _, _, sha, manifest, deflate, _ = present
    try:
        return present if checksum(manifest, deflate) == sha.decode() else None
    except UnicodeDecodeError:
        return None


def decode(values: list[bytes | None]) -> CachedDocument | None:
    """A copy read as ``HMGET key *FIELDS``, verified; None if absent, partial or corrupt."""
    verified = _verified(values)
    if verified is None:
        return None
    version, etag, _, _, deflate, size = verified
    try:
        body = assembly.inflate_segment(deflate)  # type: ignore[arg-type]
        document = CachedDocument(int(version), etag.decode(), body, deflate, zlib.crc32(body))  # type: ignore[arg-type, union-attr]
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None
    return document if len(body) == int(size) else None  # type: ignore[arg-type]


def get(environment_uid: UUID | str) -> CachedDocument | None:
    """The verified copy, or None when absent, corrupt, or Redis is unreachable."""
    try:
        values = client().hmget(document_key(environment_uid), FIELDS)
    except redis.RedisError as exc:
        logger.warning("Redis unavailable for SDK document %s: %s", environment_uid, exc)
        return None
    return decode(values)


def stored_layout(environment_uid: UUID | str) -> StoredLayout | None:
    """The copy's pieces, if it is present, verified and cut by ``documents.layout`` (a copy
    stored otherwise has to be replaced whole). Raises RedisError."""
    verified = _verified(client().hmget(document_key(environment_uid), FIELDS))
    if verified is None:
        return None
    version, etag, sha, manifest, deflate, _ = verified
    parsed = layout.parse(manifest, deflate)
    return None if parsed is None else StoredLayout(int(version), etag.decode(), sha.decode(), parsed)


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
local current = redis.call('HMGET', KEYS[1], 'version', 'etag', 'sha')
if ARGV[7] == 'replace' then
    if current[1] ~= ARGV[8] or current[2] ~= ARGV[9] or current[3] ~= ARGV[10] then
        return 0
    end
elseif current[1] and ARGV[7] ~= 'force' and tonumber(current[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'etag', ARGV[2], 'sha', ARGV[3],
           'manifest', ARGV[4], 'deflate', ARGV[5], 'size', ARGV[6])
redis.call('PUBLISH', KEYS[2], ARGV[11])
return 1
"""


def store_layout(
    environment_uid: UUID | str,
    version: int,
    etag: str,
    pieces: layout.Layout,
    event: bytes,
    force: bool = False,
    replacing: StoredLayout | None = None,
) -> bool:
    """Store a copy unless Redis already has this version or a newer one (``force``: replace it
    anyway, for repairs; ``replacing``: only if the copy is still that one), and announce it
    with ``event`` on the channel. True if stored."""
    mode = "replace" if replacing is not None else "force" if force else "newer"
    expected = (replacing.version, replacing.etag, replacing.sha) if replacing is not None else ("", "", "")
    compressed = (pieces.manifest(), pieces.deflate(), pieces.size)
    return _write(environment_uid, version, etag, compressed, event, mode, expected)


def _write(
    environment_uid: UUID | str,
    version: int,
    etag: str,
    compressed: tuple[bytes, bytes, int],
    event: bytes,
    mode: str,
    expected: tuple[object, ...] = ("", "", ""),
) -> bool:
    manifest, deflate, size = compressed
    try:
        stored = client().eval(
            _STORE,
            2,
            document_key(environment_uid),
            events_channel(),
            version,
            etag,
            checksum(manifest, deflate),
            manifest,
            deflate,
            size,
            mode,
            *expected,
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
