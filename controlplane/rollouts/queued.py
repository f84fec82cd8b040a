"""Which plans have an engine evaluation waiting in the queue or running: one Redis key per plan.

The tick claims a plan (``SET NX EX``) before it queues its evaluation and skips the plans it
cannot claim, so a queue that is slower than the tick never holds the same plan twice and
always drains. The evaluation releases the claim when it is done; only its own claim (the
tick's token), never a later tick's. The expiry is the safety net for an evaluation that was
lost (a worker machine gone): the plan is queued again a few ticks later.

Redis failures never stop the engine: a tick that cannot claim queues every plan, as if none
were queued.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis
from django.conf import settings

from controlplane.documents import cache

logger = logging.getLogger(__name__)

EXPIRY_TICKS = 8
"""A claim lasts this many ticks at most; an evaluation normally ends within the one tick."""

_RELEASE = """
local released = 0
for _, key in ipairs(KEYS) do
    if redis.call('get', key) == ARGV[1] then released = released + redis.call('del', key) end
end
return released
"""


def key(plan_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:rollouts:queued:{plan_id}"


def expiry_seconds() -> int:
    return max(1, round(EXPIRY_TICKS * settings.ROLLOUTS_TICK_SECONDS))


def claim(plan_ids: Sequence[int], token: str) -> list[int]:
    """The plans of ``plan_ids`` that had no evaluation queued or running; now they are ``token``'s."""
    if not plan_ids:
        return []
    try:
        with cache.client().pipeline(transaction=False) as pipe:
            for plan_id in plan_ids:
                pipe.set(key(plan_id), token, nx=True, ex=expiry_seconds())
            claimed = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("Cannot tell which rollout plans are queued (%s); queueing all %d", exc, len(plan_ids))
        return list(plan_ids)
    return [plan_id for plan_id, ok in zip(plan_ids, claimed, strict=True) if ok]


def release(plan_ids: Sequence[int], token: str) -> None:
    """The evaluations ``token`` claimed are done: the next tick may queue these plans again."""
    if not plan_ids:
        return
    try:
        cache.client().eval(_RELEASE, len(plan_ids), *(key(plan_id) for plan_id in plan_ids), token)
    except redis.RedisError as exc:
        logger.warning("Cannot release %d queued rollout plans (%s); their claims expire", len(plan_ids), exc)
