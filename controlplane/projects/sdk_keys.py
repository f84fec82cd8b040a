"""SDK keys as the serving path checks them: by digest, from Redis, without PostgreSQL.

``<prefix>:sdk_keys`` is a Redis hash from a key's SHA-256 digest to what a request needs to
know about it (``KeyInfo`` as JSON), or to ``revoked``. Issuing a key writes it there once the
issue has committed; revoking writes the tombstone and announces the digest on the events
channel, so every web process forgets it at once. A digest Redis does not know is looked up in
PostgreSQL and then written back; the reconciler rewrites entries that disagree with
PostgreSQL (a revocation whose Redis write failed, a Redis restored from an old snapshot).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane.documents import cache, events
from controlplane.projects.models import SdkKey
from controlplane.secrets import SDK_SERVER_KEY_PREFIX, hash_secret

logger = logging.getLogger(__name__)

REVOKED = b"revoked"


@dataclass(frozen=True)
class KeyInfo:
    """An active SDK key, as a request authenticated by it sees it."""

    id: int
    environment_id: int
    environment_uid: str
    project: str
    environment: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> KeyInfo | None:
        try:
            return cls(**json.loads(raw))
        except (TypeError, ValueError):
            return None


def hash_key() -> str:
    return f"{settings.REDIS_PREFIX}:sdk_keys"


def info_of(sdk_key: SdkKey) -> KeyInfo:
    environment = sdk_key.environment
    return KeyInfo(sdk_key.id, environment.id, str(environment.uid), environment.project.key, environment.key)


def digest_of(plaintext: str | None) -> str | None:
    """The digest under which a presented server-side key is stored; None if it is not one (or
    none was presented). The one hash of a presented key: the edge takes it once a request."""
    if plaintext is None or not plaintext.startswith(SDK_SERVER_KEY_PREFIX) or len(plaintext) > 200:
        return None
    return hash_secret(plaintext)


def from_postgres(digest: str) -> KeyInfo | None:
    """The active key with this digest, from PostgreSQL (raises DatabaseError when it is down)."""
    sdk_key = (
        SdkKey.objects.select_related("environment__project").filter(digest=digest, revoked_at__isnull=True).first()
    )
    return None if sdk_key is None else info_of(sdk_key)


def remember(digest: str, info: KeyInfo | None) -> None:
    """Write what PostgreSQL said of a digest into Redis (best effort)."""
    try:
        if info is not None:
            cache.client().hset(hash_key(), digest, info.to_json())
    except redis.RedisError as exc:
        logger.warning("Could not cache an SDK key in Redis: %s", exc)


def authenticate(plaintext: str) -> KeyInfo | None:
    """The active SDK key presented as ``plaintext``: Redis first, then PostgreSQL. For the
    Django side (metrics ingest); the web edge keeps its own in-process layer above this."""
    digest = digest_of(plaintext)
    if digest is None:
        return None
    try:
        raw = cache.client().hget(hash_key(), digest)
    except redis.RedisError:
        raw = None
    if raw == REVOKED:
        return None
    if raw is not None:
        info = KeyInfo.from_json(raw)
        if info is not None:
            return info
    info = from_postgres(digest)
    remember(digest, info)
    return info


def announce_issued(sdk_key: SdkKey) -> None:
    """After the issuing transaction commits, make the key known to the serving path."""
    info = info_of(sdk_key)
    transaction.on_commit(lambda: remember(sdk_key.digest, info))


def announce_revoked(sdk_key: SdkKey) -> None:
    """After the revoking transaction commits, every web process stops accepting the key."""

    def publish() -> None:
        try:
            cache.client().hset(hash_key(), sdk_key.digest, REVOKED)
        except redis.RedisError as exc:
            logger.warning("Could not record a revoked SDK key in Redis (the reconciler will): %s", exc)
        cache.publish(events.sdk_key_revoked_event(sdk_key.digest))

    transaction.on_commit(publish)


def reconcile() -> int:
    """Make the Redis hash agree with PostgreSQL; returns the number of entries rewritten."""
    keys = SdkKey.objects.select_related("environment__project").filter(revoked_at__isnull=True)
    active = {key.digest: info_of(key).to_json() for key in keys}
    revoked = set(SdkKey.objects.filter(revoked_at__isnull=False).values_list("digest", flat=True))
    try:
        stored = cache.client().hgetall(hash_key())
    except redis.RedisError as exc:
        logger.warning("Reconciler: Redis unavailable, SDK keys not checked: %s", exc)
        return 0
    stored = {digest.decode(): value for digest, value in stored.items()}
    wrong = {digest: value for digest, value in active.items() if stored.get(digest) != value}
    # Revoked keys, and keys whose rows are gone (a deleted project), become tombstones.
    gone = (revoked | set(stored)) - set(active)
    wrong.update({digest: REVOKED for digest in gone if stored.get(digest) != REVOKED})
    if not wrong:
        return 0
    try:
        with cache.client().pipeline(transaction=True) as pipe:
            pipe.hset(hash_key(), mapping=wrong)
            for digest, value in wrong.items():
                if value == REVOKED:
                    pipe.publish(cache.events_channel(), events.sdk_key_revoked_event(digest))
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("Reconciler: could not repair SDK keys in Redis: %s", exc)
        return 0
    logger.warning("Reconciler: repaired %d SDK key entries in Redis", len(wrong))
    return len(wrong)


def touch(key_ids: set[int]) -> None:
    """Record that these keys were used (at most once a minute per key; one statement)."""
    if not key_ids:
        return
    now = timezone.now()
    stale = now - timedelta(minutes=1)
    SdkKey.objects.filter(pk__in=key_ids).exclude(last_used_at__gt=stale).update(last_used_at=now)
