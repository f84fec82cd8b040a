"""Per environment: the document this process serves, its recent patches, and its open streams.

The served document only moves forward. It is replaced when a ``document`` event announces a
newer Redis copy, or when the periodic check finds the copy's header changed (an event may
have been missed). A copy that fails verification is never served: the document is read from
PostgreSQL instead (and the copy repaired). With Redis down, memory keeps serving; with
nothing in memory, PostgreSQL; with both down, nothing (the edge answers 503).

Streams get every version in order: the patch that leads from the version they have, or, when
no such chain of patches is known, the whole document (``put``) and the patches after it.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from django.db import DatabaseError
from redis.exceptions import RedisError

from controlplane.documents import assembly, cache, events
from controlplane.documents import services as documents
from controlplane.edge import workers
from controlplane.projects.sdk_keys import KeyInfo

logger = logging.getLogger(__name__)

MAX_QUEUED_EVENTS = 1_000
"""A stream further behind than this is closed; its SDK resumes with Last-Event-ID."""


def sse(kind: bytes, version: int, data: bytes) -> bytes:
    return b"event: " + kind + b"\nid: " + str(version).encode() + b"\ndata: " + data + b"\n\n"


HEARTBEAT = b": ping\n\n"
HEARTBEAT_DEFLATED = assembly.deflate_segment(HEARTBEAT)


@dataclass(frozen=True)
class Event:
    """One SSE event, encoded once for every stream: raw, and as a deflate segment."""

    version: int
    raw: bytes
    deflated: bytes

    @classmethod
    def of(cls, kind: bytes, version: int, data: bytes) -> Event:
        raw = sse(kind, version, data)
        return cls(version, raw, assembly.deflate_segment(raw))


@dataclass
class Served:
    version: int
    etag: str
    body: bytes
    deflate: bytes
    crc: int
    _gzip: bytes | None = None
    _put: Event | None = None

    def gzip(self) -> bytes:
        if self._gzip is None:
            self._gzip = assembly.gzip_member(self.deflate, self.crc, len(self.body))
        return self._gzip

    def put(self) -> Event:
        """The ``put`` event; its deflated form reuses the body's segment (no recompression)."""
        if self._put is None:
            prefix = b"event: put\nid: " + str(self.version).encode() + b"\ndata: "
            deflated = assembly.deflate_segment(prefix) + self.deflate + assembly.deflate_segment(b"\n\n")
            self._put = Event(self.version, prefix + self.body + b"\n\n", deflated)
        return self._put


@dataclass(frozen=True)
class Patch:
    previous_version: int
    event: Event


class Stream:
    """One SDK connection. An event is written to the connection at once when nothing is
    waiting to be written before it (``write``, set once the response has started: one pass
    over all streams fans an event out, no task switch per stream); otherwise it is queued
    here and written by the connection's own task, which waits for a slow client."""

    def __init__(self, digest: str, gzip: bool, version: int | None) -> None:
        self.digest = digest
        self.gzip = gzip
        self.version = version
        self.queue: list[bytes] = []
        self.wake = asyncio.Event()
        self.closed = False
        self.write: Callable[[bytes], bool] | None = None
        """Writes bytes now or returns False; None while the connection's task is sending."""

    def push(self, event: Event) -> None:
        if self.closed:
            return
        chunk = event.deflated if self.gzip else event.raw
        self.version = event.version
        if not self.queue and self.write is not None and self.write(chunk):
            return
        self.queue.append(chunk)
        if len(self.queue) > MAX_QUEUED_EVENTS:
            self.close()
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


@dataclass
class Feed:
    uid: str
    environment_id: int
    served: Served | None = None
    announced: int = 0
    patches: OrderedDict[int, Patch] = field(default_factory=OrderedDict)
    history_loaded: bool = False
    streams: set[Stream] = field(default_factory=set)
    loading: asyncio.Future[Served | None] | None = None

    def add_patch(self, patch: Patch) -> None:
        self.patches[patch.previous_version] = patch
        while len(self.patches) > cache.PATCH_HISTORY:
            self.patches.popitem(last=False)

    def chain(self, since: int) -> list[Event] | None:
        """The patch events from version ``since`` to the newest known, or None if a link is
        missing. An empty list: ``since`` is the newest."""
        newest = max([self.newest, since])
        found, version = [], since
        while version < newest:
            patch = self.patches.get(version)
            if patch is None:
                return None
            found.append(patch.event)
            version = patch.event.version
        return found

    @property
    def newest(self) -> int:
        versions = [patch.event.version for patch in self.patches.values()]
        return max([self.served.version if self.served else 0, *versions])

    def catch_up(self, stream: Stream) -> bool:
        """Queue what ``stream`` misses; False if that takes the whole document."""
        if stream.version is not None:
            chain = self.chain(stream.version)
            if chain is not None:
                for event in chain:
                    stream.push(event)
                return True
        if self.served is None or (stream.version is not None and stream.version >= self.served.version):
            return False
        stream.push(self.served.put())
        for event in self.chain(self.served.version) or ():
            stream.push(event)
        return True


class DocumentStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self.feeds: dict[str, Feed] = {}

    def feed(self, key: KeyInfo) -> Feed:
        feed = self.feeds.get(key.environment_uid)
        if feed is None:
            feed = self.feeds[key.environment_uid] = Feed(key.environment_uid, key.environment_id)
        return feed

    @staticmethod
    def in_memory(feed: Feed) -> Served | None:
        """The document to serve now if this process has it (no newer version was announced)."""
        served = feed.served
        return served if served is not None and served.version >= feed.announced else None

    async def current(self, feed: Feed) -> Served | None:
        """The document to serve now (None: not available from memory, Redis or PostgreSQL)."""
        return self.in_memory(feed) or await self.refresh(feed)

    async def refresh(self, feed: Feed) -> Served | None:
        """Compare with the Redis copy and load a newer one (one load at a time per feed)."""
        if feed.loading is None:
            feed.loading = asyncio.ensure_future(self._load(feed))
            feed.loading.add_done_callback(lambda _: setattr(feed, "loading", None))
        return await asyncio.shield(feed.loading)

    async def _load(self, feed: Feed) -> Served | None:
        served = feed.served
        try:
            version, etag = await self._redis.hmget(cache.document_key(feed.uid), ["version", "etag"])
        except (RedisError, OSError) as exc:
            if served is not None:
                return served  # Redis is down: keep serving what this process has
            logger.warning("Redis unavailable for SDK document %s, reading PostgreSQL: %s", feed.uid, exc)
        else:
            if (
                version is not None
                and served is not None
                and ((int(version), etag.decode()) == (served.version, served.etag) or int(version) < served.version)
            ):
                return served  # current, or an older copy (a restored Redis): never go back
            if version is not None:
                values = await self._redis.hmget(cache.document_key(feed.uid), cache.FIELDS)
                copy = await workers.compute(cache.decode, values)
                if copy is not None and not await self._postgres_is_newer(feed, copy.version):
                    return self._install(feed, Served(copy.version, copy.etag, copy.body, copy.deflate, copy.crc))
                if copy is None:
                    logger.warning("The Redis copy of SDK document %s is corrupt; serving PostgreSQL's", feed.uid)
        return await self._from_postgres(feed)

    @staticmethod
    async def _postgres_is_newer(feed: Feed, version: int) -> bool:
        """Whether PostgreSQL has published a newer version than a copy about to be served (a
        Redis restored from an older snapshot). Unknown (PostgreSQL down): no."""
        try:
            published = await workers.run(documents.published_version, feed.environment_id)
        except DatabaseError:
            return False
        return published is not None and published > version

    async def _from_postgres(self, feed: Feed) -> Served | None:
        try:
            assembled = await workers.run(documents.served_document, feed.environment_id)
        except DatabaseError as exc:
            logger.warning("PostgreSQL unavailable for SDK document %s: %s", feed.uid, exc)
            return feed.served
        if assembled is None:
            return feed.served
        deflate = await workers.compute(assembly.deflate_segment, assembled.body)
        served = Served(assembled.version, assembled.etag, assembled.body, deflate, zlib.crc32(assembled.body))
        return self._install(feed, served)

    def _install(self, feed: Feed, served: Served) -> Served:
        if feed.served is not None and served.version < feed.served.version:
            return feed.served
        feed.served = served
        for stream in list(feed.streams):
            if stream.version is None or stream.version < served.version:
                feed.catch_up(stream)
        return served

    async def load_history(self, feed: Feed) -> None:
        """The patches Redis keeps for this environment (once per feed; for resuming streams)."""
        if feed.history_loaded:
            return
        try:
            raw = await self._redis.lrange(cache.patches_key(feed.uid), 0, -1)
        except (RedisError, OSError):
            return
        for message in reversed(raw):
            event = events.decode(message)
            if event is not None:
                self._remember_patch(feed, event)
        feed.history_loaded = True

    @staticmethod
    def _remember_patch(feed: Feed, event: events.Event) -> Patch | None:
        if event.payload is None:
            return None
        version, previous = int(event.header["version"]), int(event.header["previous_version"])
        patch = Patch(previous, Event.of(b"patch", version, event.payload))
        feed.add_patch(patch)
        return patch

    def on_event(self, event: events.Event) -> Feed | None:
        """Apply a message from the events channel about a document this process serves.
        Returns the feed whose document must be refreshed, if any (the caller does it apart,
        so that a slow load never delays the next message)."""
        feed = self.feeds.get(str(event.header.get("environment")))
        if feed is None:
            return None
        version = int(event.header.get("version", 0))
        if event.type == events.PATCH:
            patch = self._remember_patch(feed, event)
            for stream in list(feed.streams):
                if patch is not None and stream.version == patch.previous_version:
                    stream.push(patch.event)
                elif stream.version is None or stream.version < version:
                    feed.catch_up(stream)  # the whole document, once this version's copy is announced
        elif event.type == events.DOCUMENT and version > feed.announced:
            feed.announced = version
            return feed
        return None

    async def verify(self) -> None:
        """Compare every served document with its Redis copy's header (missed events)."""
        feeds = [feed for feed in self.feeds.values() if feed.served is not None]
        if not feeds:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for feed in feeds:
                    pipe.hmget(cache.document_key(feed.uid), ["version", "etag"])
                replies = await pipe.execute()
        except (RedisError, OSError):
            return
        for feed, (version, etag) in zip(feeds, replies, strict=True):
            served = feed.served
            if version is None or served is None:
                continue
            if int(version) > served.version or (int(version) == served.version and etag.decode() != served.etag):
                feed.announced = max(feed.announced, int(version))
                feed.history_loaded = False
                await self.load_history(feed)
                await self.refresh(feed)

    def expire_all(self) -> None:
        """After a lost subscription: reload history and recheck copies before trusting memory."""
        for feed in self.feeds.values():
            feed.history_loaded = False
