"""Rate limits shared by every process: a token bucket per key in Redis, and the client's address.

``Buckets`` and ``client_address`` need no Django and no DRF: the REST API's throttles, the token
and SDK-key authentication and the SDK edge all call them (``shared_buckets()`` is the control
plane's instance, from its settings).

A ``Limit`` of ``"20/min"`` is a bucket of 20 tokens refilled at 20 per minute: a client may
spend the 20 at once, then one every 3 s. ``take`` spends tokens and answers how long to wait
when the bucket is empty (nothing is spent then); ``wait`` only looks. The bucket lives in one
Redis hash (``tokens``, ``at``) updated by a Lua script with Redis's own clock, so every worker
sees the same count and no clock skew between hosts matters. If Redis cannot be reached the
request is let through: a limit must never take the control plane down with it. After a failure
``Buckets`` leaves Redis alone for ``REDIS_DOWN_SECONDS``, so that a hung Redis costs a request
one timeout, not one per limit it checks.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

REDIS_DOWN_SECONDS = 2.0
PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}

# KEYS[1]: the bucket. ARGV: capacity, refill per second, cost (0 = only look).
# Returns the seconds to wait (as a string, Lua numbers become integers), "0" if allowed.
_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local needed = math.max(cost, 1)
if tokens < needed then
  return tostring((needed - tokens) / rate)
end
if cost > 0 then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
end
return '0'
"""


@dataclass(frozen=True)
class Limit:
    capacity: int
    per_second: float

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"20/min"``, ``"5/s"``, ``"1000/hour"``: that many tokens, refilled over that period."""
        count, _, period = text.strip().partition("/")
        try:
            capacity, seconds = int(count), PERIODS[period.strip().lower()]
        except (ValueError, KeyError):
            raise ValueError(f"a rate limit is N/s, N/min or N/hour, not {text!r}") from None
        if capacity < 1:
            raise ValueError(f"a rate limit allows at least 1 request, not {text!r}")
        return cls(capacity, capacity / seconds)

    def __str__(self) -> str:
        return f"{self.capacity} per {self.capacity / self.per_second:g} s"


class Buckets:
    """Token buckets named ``<prefix><key>`` in one Redis database."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_BUCKET)
        self._down_until = 0.0

    def take(self, key: str, limit: Limit, cost: int = 1) -> float:
        """Spend ``cost`` tokens: 0.0 if allowed, else the seconds until it would be (nothing spent)."""
        return self._run(key, limit, cost)

    def wait(self, key: str, limit: Limit) -> float:
        """The seconds until one token is there, spending nothing: 0.0 if one is there now."""
        return self._run(key, limit, 0)

    def reset(self, key: str) -> None:
        try:
            self._client.delete(self._prefix + key)
        except redis.RedisError as exc:
            logger.warning("Rate limit %s not reset, Redis failed: %s", key, exc)

    def _run(self, key: str, limit: Limit, cost: int) -> float:
        if time.monotonic() < self._down_until:
            return 0.0
        try:
            answer = self._script(keys=[self._prefix + key], args=[limit.capacity, limit.per_second, cost])
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + REDIS_DOWN_SECONDS
            logger.warning(
                "Rate limit %s not applied, Redis failed (skipped for %g s): %s", key, REDIS_DOWN_SECONDS, exc
            )
            return 0.0
        return float(answer)


class AsyncBuckets:
    """The same buckets for an asyncio caller (the SDK edge), with the same names and script."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._prefix = prefix
        self._script = client.register_script(_BUCKET)

    async def take(self, key: str, limit: Limit, cost: int = 1) -> float:
        return await self._run(key, limit, cost)

    async def wait(self, key: str, limit: Limit) -> float:
        return await self._run(key, limit, 0)

    async def _run(self, key: str, limit: Limit, cost: int) -> float:
        try:
            answer = await self._script(keys=[self._prefix + key], args=[limit.capacity, limit.per_second, cost])
        except (redis.RedisError, OSError) as exc:
            logger.warning("Rate limit %s not applied, Redis failed: %s", key, exc)
            return 0.0
        return float(answer)


class LocalBucket:
    """A token bucket in process memory, for limits checked on every request of a hot path
    (where a Redis round trip per request would cost more than what it protects)."""

    __slots__ = ("at", "tokens")

    def __init__(self, limit: Limit, now: float) -> None:
        self.tokens = float(limit.capacity)
        self.at = now

    def take(self, limit: Limit, now: float) -> float:
        """Spend one token: 0.0 if allowed, else the seconds until one is there."""
        self.tokens = min(limit.capacity, self.tokens + (now - self.at) * limit.per_second)
        self.at = now
        if self.tokens < 1:
            return (1 - self.tokens) / limit.per_second
        self.tokens -= 1
        return 0.0


_shared: Buckets | None = None


def shared_buckets() -> Buckets:
    """The control plane's buckets: in ``REDIS_URL``, named with ``RATELIMIT_KEY_PREFIX``."""
    global _shared
    if _shared is None:
        from django.conf import settings

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=settings.REDIS_TIMEOUT_S, socket_connect_timeout=settings.REDIS_TIMEOUT_S
        )
        _shared = Buckets(client, settings.RATELIMIT_KEY_PREFIX)
    return _shared


def retry_after(wait_s: float) -> int:
    """The ``Retry-After`` header's whole seconds for a wait (at least 1)."""
    return max(1, math.ceil(wait_s))


def client_address(remote_addr: str, forwarded_for: str | None, trusted_proxies: int) -> str | None:
    """The client's address: the peer's, or, behind ``trusted_proxies`` proxies, the address the
    outermost of them saw (the n-th ``X-Forwarded-For`` entry from the right); entries left of it
    are the client's to invent, so they are never read. None if no address is known."""
    address = remote_addr
    if trusted_proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= trusted_proxies:
            address = hops[-trusted_proxies]
    for candidate in (address, remote_addr):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None
