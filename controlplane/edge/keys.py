"""SDK keys checked in process memory, backed by Redis, then PostgreSQL (``projects.sdk_keys``).

A key seen recently is answered from memory. Every ``EDGE_VERIFY_SECONDS`` it is checked again
against Redis (one HGET, in the background: requests meanwhile are still answered from memory,
and however many arrive, one check per key runs at a time); a revocation is also announced on
the events channel, which drops it from every process at once. After missed announcements
(``expire_all``) the next request of each key waits for its check. When Redis does not know a
digest, PostgreSQL is asked (in a thread) and Redis is told. When neither can be reached, a key
this process has seen keeps working; one it has never seen cannot be verified
(``UNVERIFIABLE``: the edge answers 503).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from django.db import DatabaseError
from redis.exceptions import RedisError

from controlplane.edge import workers
from controlplane.projects import sdk_keys
from controlplane.projects.sdk_keys import KeyInfo

logger = logging.getLogger(__name__)


class Refused(enum.Enum):
    INVALID = "invalid"
    UNVERIFIABLE = "unverifiable"
    THROTTLED = "throttled"


INVALID = Refused.INVALID
UNVERIFIABLE = Refused.UNVERIFIABLE
THROTTLED = Refused.THROTTLED
NEGATIVE_TTL_S = 10.0
MAX_NEGATIVE = 10_000


class KeyCache:
    def __init__(self, redis: aioredis.Redis, verify_seconds: float) -> None:
        self._redis = redis
        self._verify_seconds = verify_seconds
        self._known: dict[str, tuple[KeyInfo, float]] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._revocations = 0
        self._checking: dict[str, asyncio.Future[KeyInfo | Refused]] = {}
        self.used: set[int] = set()
        """Ids of keys used since the last ``touch`` flush (for ``last_used_at``)."""

    async def check(
        self, digest: str | None, may_look_up: Callable[[], Awaitable[bool]]
    ) -> tuple[str, KeyInfo] | Refused:
        """(digest, key) for an active server-side SDK key, or why it is refused; ``digest`` is
        ``sdk_keys.digest_of`` of the key presented (None: no key, or not a server-side one).

        A key this process does not know is looked up only if ``may_look_up()`` agrees (it is
        where guessing is throttled); one it verified is answered from memory (``remembered``)."""
        remembered = self.remembered(digest)
        if remembered is not None:
            return remembered
        known = None if digest is None else self._known.get(digest)
        if known is None and not await may_look_up():
            return THROTTLED
        if digest is None:
            return INVALID
        negative = self._unknown.get(digest)
        if negative is not None and negative > time.monotonic():
            return INVALID
        found = await asyncio.shield(self._check(digest, known[0] if known else None))
        if isinstance(found, KeyInfo):
            self.used.add(found.id)
            return digest, found
        return found

    def remembered(self, digest: str | None) -> tuple[str, KeyInfo] | None:
        """(digest, key) if this process verified the key of ``digest`` (``sdk_keys.digest_of``)
        and missed no announcement since (a check that is due starts in the background); None
        if only ``check`` can tell."""
        if digest is None:
            return None
        known = self._known.get(digest)
        if known is None or known[1] == 0:  # never verified here, or announcements were missed
            return None
        if time.monotonic() - known[1] >= self._verify_seconds:
            self._check(digest, known[0])
        self.used.add(known[0].id)
        return digest, known[0]

    def _check(self, digest: str, remembered: KeyInfo | None) -> asyncio.Future[KeyInfo | Refused]:
        """The running check of ``digest``, or a new one."""
        checking = self._checking.get(digest)
        if checking is None:
            checking = self._checking[digest] = asyncio.ensure_future(self._verify(digest, remembered))
            checking.add_done_callback(lambda done: self._checked(digest, done))
        return checking

    def _checked(self, digest: str, done: asyncio.Future[KeyInfo | Refused]) -> None:
        self._checking.pop(digest, None)
        if not done.cancelled() and done.exception() is not None:
            logger.error("Checking an SDK key failed", exc_info=done.exception())

    async def _verify(self, digest: str, remembered: KeyInfo | None) -> KeyInfo | Refused:
        revocations = self._revocations
        try:
            raw = await self._redis.hget(sdk_keys.hash_key(), digest)
        except (RedisError, OSError):
            if remembered is not None:  # Redis is down: trust what this process already knew
                return remembered
            raw = None
        if raw == sdk_keys.REVOKED:
            return self._forget(digest)
        info = KeyInfo.from_json(raw) if raw is not None else None
        if info is None:
            try:
                info = await workers.run(sdk_keys.from_postgres, digest)
            except DatabaseError:
                return remembered if remembered is not None else UNVERIFIABLE
            if info is None:
                return self._forget(digest)
            await self._remember_in_redis(digest, info)
        if revocations != self._revocations and digest in self._unknown:
            return INVALID  # revoked while we were asking: the announcement wins
        self._known[digest] = (info, time.monotonic())
        return info

    def _forget(self, digest: str) -> Refused:
        self._known.pop(digest, None)
        self._unknown[digest] = time.monotonic() + NEGATIVE_TTL_S
        self._unknown.move_to_end(digest)
        while len(self._unknown) > MAX_NEGATIVE:
            self._unknown.popitem(last=False)
        return INVALID

    async def _remember_in_redis(self, digest: str, info: KeyInfo) -> None:
        try:
            await self._redis.hset(sdk_keys.hash_key(), digest, info.to_json())
        except (RedisError, OSError) as exc:
            logger.warning("Could not cache an SDK key in Redis: %s", exc)

    def revoked(self, digest: str) -> None:
        """A revocation was announced: refuse the key from now on."""
        self._revocations += 1
        self._forget(digest)

    def expire_all(self) -> None:
        """Check every key against Redis on its next use (after missed announcements)."""
        self._known = {digest: (info, 0.0) for digest, (info, _) in self._known.items()}
        self._unknown.clear()

    def take_used(self) -> set[int]:
        used, self.used = self.used, set()
        return used
