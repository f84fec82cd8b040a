"""Metrics batches parked in Redis, drained into PostgreSQL by a Celery worker: while PostgreSQL is
unavailable, and for batches too big to count on the request.

``ingest_or_park`` reads a batch (``wire.read_batch``, which needs no database: the SDK key comes
from Redis; a bad batch is refused there, before anything is parked) and counts it
(``services.count_batch``). It appends the batch's text as the SDK sent it to
``<prefix>:metrics:inbox`` (at most METRICS_INBOX_MAX batches), and the SDK is told it is queued,
when PostgreSQL cannot be reached, or when counting it would write more than METRICS_PARK_ROWS
rows (a series' bucket row, and its unit row if it has unit groups: a request counting 10,000
series of 16 groups took 1.3-1.9 s), in which case a drain is queued at once rather than at the
next beat.

``drain`` (Celery beat, ``metrics.drain_inbox``, and the queued drains) moves one batch at a time
to a processing list, counts it with ``services.count_batch`` (the same reading, at the time it
was received, and the same counting: a late one if its bucket has settled since) and then removes
it. A batch parked by this version is marked ``checked``: its request read it, so its entries'
counts and rules are not checked again (``read_batch(checked=True)``); one parked before is read
as a request reads it. One drain runs at a time (a Redis lock): another one has nothing to do.
The lock expires DRAIN_LOCK_S after its last renewal (a thread renews it while the drain runs,
however long one batch takes), so a drain whose worker died frees it then; a drain that lost it
(its process was paused past that) stops after its batch. The batch id is recorded in the
counting transaction, so a batch whose drain crashed after the commit, or that two drains
counted, is counted once: the next drain puts it back in the inbox and ``count_batch`` reports
it as a duplicate.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

from controlplane import broker
from controlplane.documents import cache
from controlplane.metrics.errors import BatchError, InboxFull
from controlplane.metrics.services import IngestResult, count_batch
from controlplane.metrics.wire import Batch, read_batch

logger = logging.getLogger(__name__)

DATABASE_DOWN = (OperationalError, InterfaceError)
DRAIN_LOCK_S = 60.0
"""How long a drain's lock outlives its last renewal (renewed every third of it while it runs)."""


def inbox_key() -> str:
    return f"{settings.REDIS_PREFIX}:metrics:inbox"


def processing_key() -> str:
    return f"{settings.REDIS_PREFIX}:metrics:inbox:processing"


def drain_lock_key() -> str:
    return f"{settings.REDIS_PREFIX}:metrics:inbox:draining"


def ingest_or_park(environment_id: int, data: Any, text: bytes) -> IngestResult:
    """Count a batch (decoded JSON, from ``text``, its UTF-8 JSON) now, or park ``text`` in Redis
    (``queued=True``) when it is too big to count on the request or PostgreSQL is unavailable.
    Raises ``BatchError`` for a batch that cannot be counted (before parking anything) and
    ``InboxFull`` when neither PostgreSQL nor Redis takes it."""
    received_at = timezone.now()
    batch = read_batch(data, received_at, text)
    if rows_written(batch) > settings.METRICS_PARK_ROWS:
        return _queued(environment_id, text, batch, received_at, drain_now=True)
    try:
        return count_batch(environment_id, batch, received_at)
    except DATABASE_DOWN as exc:
        logger.warning("PostgreSQL unavailable, parking a metrics batch in Redis: %s", exc)
    # No drain queued: it would only find PostgreSQL down too; the beat tries again.
    return _queued(environment_id, text, batch, received_at, drain_now=False)


def rows_written(batch: Batch) -> int:
    """Rows counting ``batch`` writes at most: a bucket row per entry and, for an entry with unit
    groups, its ``MetricUnitBucket`` row (one whatever its number of groups)."""
    return sum(2 if entry.units is not None and entry.units.group else 1 for entry in batch.entries)


def _queued(environment_id: int, text: bytes, batch: Batch, received_at: datetime, drain_now: bool) -> IngestResult:
    park(environment_id, text, received_at)
    if drain_now:
        from controlplane.metrics.tasks import drain_inbox  # tasks imports this module

        broker.send(drain_inbox)  # if the broker is down, the beat drains it
    return IngestResult(accepted=len(batch.entries), duplicate=False, queued=True)


def park(environment_id: int, text: bytes, received_at: datetime) -> None:
    """Keep a batch ``read_batch`` accepted at ``received_at`` for ``drain``: ``text``, its JSON as
    the SDK sent it (in UTF-8), inside the entry's JSON as it is (encoding the decoded batch again
    took 170-320 ms for 8.4 MiB), marked ``checked`` (what entries parked before lack)."""
    head = json.dumps({"environment_id": environment_id, "received_at": received_at.isoformat(), "checked": True})
    entry = b"".join([head[:-1].encode(), b', "batch": ', text, b"}"])
    try:
        client = cache.client()
        if client.llen(inbox_key()) >= settings.METRICS_INBOX_MAX:
            raise InboxFull("The metrics inbox is full.")
        client.rpush(inbox_key(), entry)
    except redis.RedisError as exc:
        raise InboxFull(f"Redis did not take the batch: {exc}") from exc


def parked() -> int:
    """Batches waiting in the inbox (including one being drained)."""
    client = cache.client()
    return client.llen(inbox_key()) + client.llen(processing_key())


def drain(limit: int = 1000) -> dict[str, int]:
    """Count up to ``limit`` parked batches into PostgreSQL, oldest first; stop (leaving the batch
    parked) when PostgreSQL is still unavailable. Nothing (``"busy": 1``) while another drain runs."""
    client = cache.client()
    # Not thread-local: the renewing thread uses its token too.
    lock = client.lock(drain_lock_key(), timeout=DRAIN_LOCK_S, blocking=False, thread_local=False)
    if not lock.acquire():
        return {"counted": 0, "duplicates": 0, "rejected": 0, "left": parked(), "busy": 1}
    try:
        with _renewed(lock):
            return _drain(client, lock, limit)
    finally:
        try:
            lock.release()
        except LockNotOwnedError:
            logger.warning("The metrics inbox drain had lost its lock (not renewed for %g s)", DRAIN_LOCK_S)


@contextmanager
def _renewed(lock: Lock) -> Iterator[None]:
    """``lock`` renewed every third of its timeout, by a thread, until the block ends or it is lost."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(DRAIN_LOCK_S / 3):
            try:
                lock.reacquire()
            except LockError:
                logger.warning("The metrics inbox drain lost its lock; it stops after the batch it counts")
                return

    renewer = threading.Thread(target=renew, name="metrics-inbox-drain-lock", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()


def _drain(client: redis.Redis, lock: Lock, limit: int) -> dict[str, int]:
    while client.lmove(processing_key(), inbox_key(), "RIGHT", "LEFT") is not None:
        pass  # a drain that stopped half-way: its batch goes back first in line
    counted = duplicates = rejected = 0
    for _ in range(limit):
        if not lock.owned():
            break  # another drain may hold it now: the rest is its to count
        raw = client.lmove(inbox_key(), processing_key(), "LEFT", "RIGHT")
        if raw is None:
            break
        entry = json.loads(raw)
        received_at = datetime.fromisoformat(entry["received_at"])
        try:
            batch = read_batch(entry["batch"], received_at, raw, checked=entry.get("checked") is True)
            result = count_batch(entry["environment_id"], batch, received_at, written_at=timezone.now())
        except DATABASE_DOWN:
            client.lmove(processing_key(), inbox_key(), "RIGHT", "LEFT")
            break
        except BatchError as exc:
            logger.warning("Discarding a parked metrics batch the rules refuse: %s", exc.errors)
            rejected += 1
        else:
            duplicates += result.duplicate
            counted += not result.duplicate
        client.lrem(processing_key(), 1, raw)
    return {"counted": counted, "duplicates": duplicates, "rejected": rejected, "left": parked()}
