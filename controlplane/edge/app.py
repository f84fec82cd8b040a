"""The edge ASGI application: the SDK paths here, everything else to Django."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import RedisError

from controlplane import ratelimit
from controlplane.documents import assembly, cache, events
from controlplane.edge import workers
from controlplane.edge.admission import Admission
from controlplane.edge.feeds import HEARTBEAT, HEARTBEAT_DEFLATED, DocumentStore, Served, Stream
from controlplane.edge.http import (
    Receive,
    Scope,
    Send,
    accepts_gzip,
    bearer,
    header,
    respond,
    respond_json,
)
from controlplane.edge.keys import INVALID, THROTTLED, UNVERIFIABLE, KeyCache, Refused
from controlplane.edge.protocol import CHUNK_WRITER
from controlplane.etags import etag_matches
from controlplane.observability.metrics import SDK_CONNECTIONS, SDK_POLLS
from controlplane.projects import sdk_keys
from controlplane.projects.sdk_keys import KeyInfo

logger = logging.getLogger(__name__)

CONFIG_PATH = "/api/v1/sdk/config"
STREAM_PATH = "/api/v1/sdk/stream"
TOUCH_EVERY_S = 5.0  # sdk_keys.touch writes a key at most once a minute
OVERLOADED = json.dumps({"detail": "This server is at capacity; retry after the time in Retry-After."}).encode()
POLL_OUTCOME_OF_REFUSAL = {INVALID: "unauthorized", THROTTLED: "rate_limited", UNVERIFIABLE: "unavailable"}

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class EdgeApplication:
    def __init__(self, django: ASGIApp) -> None:
        self.django = django
        self.admission = Admission(
            settings.EDGE_MAX_INFLIGHT, settings.EDGE_MAX_STREAMS, settings.EDGE_MAX_QUEUE_MS / 1000
        )
        self._started = False
        self._poll_buckets: dict[int, ratelimit.LocalBucket] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._refreshing: set[asyncio.Future[object]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["path"] in (CONFIG_PATH, STREAM_PATH):
            self._start()
            if scope["method"] not in ("GET", "HEAD"):
                detail = {"detail": f'Method "{scope["method"]}" not allowed.'}
                await respond_json(send, 405, detail, [(b"allow", b"GET")])
            elif scope["path"] == CONFIG_PATH:
                await self._config(scope, send)
            else:
                await self._stream(scope, receive, send)
            return
        await self.django(scope, receive, send)

    # -----------------------------------------------------------------------------------------
    # Lifecycle

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        timeout = settings.REDIS_TIMEOUT_S
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.keys = KeyCache(self.redis, settings.EDGE_VERIFY_SECONDS)
        self.buckets = ratelimit.AsyncBuckets(self.redis, settings.RATELIMIT_KEY_PREFIX)
        self.store = DocumentStore(self.redis)
        self._tasks = [
            asyncio.ensure_future(coroutine)
            for coroutine in (self._listen(), self._verify(), self.admission.watch_lag(), self._touch())
        ]

    async def _stop(self) -> None:
        for feed in self.store.feeds.values() if self._started else ():
            for stream in list(feed.streams):
                stream.close()
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    # -----------------------------------------------------------------------------------------
    # GET /api/v1/sdk/config

    async def _config(self, scope: Scope, send: Send) -> None:
        if self.admission.too_late(scope):
            SDK_POLLS.labels("overloaded").inc()
            await self._overloaded(send)
            return
        digest = sdk_keys.digest_of(bearer(scope))
        remembered = self.keys.remembered(digest)
        if remembered is not None:  # the common case, answered from memory without waiting
            served = self.store.in_memory(self.store.feed(remembered[1]))
            if served is not None:
                await self._send_document(scope, send, remembered[1], served)
                return
        if not self.admission.may_wait():
            SDK_POLLS.labels("overloaded").inc()
            await self._overloaded(send)
            return
        self.admission.inflight += 1
        try:
            checked = await self._authenticate(scope, digest)
            if isinstance(checked, Refused):
                SDK_POLLS.labels(POLL_OUTCOME_OF_REFUSAL[checked]).inc()
                await self._refuse_key(scope, send, checked)
                return
            served = await self.store.current(self.store.feed(checked[1]))
            if served is None:
                SDK_POLLS.labels("unavailable").inc()
                await self._unavailable(send)
                return
            await self._send_document(scope, send, checked[1], served)
        finally:
            self.admission.inflight -= 1

    async def _send_document(self, scope: Scope, send: Send, key: KeyInfo, served: Served) -> None:
        wait_s = self._poll_bucket(key.id).take(settings.THROTTLE_SDK_POLLS, time.monotonic())
        if wait_s > 0:
            SDK_POLLS.labels("rate_limited").inc()
            await self._throttled(send, wait_s, "Too many document requests with this SDK key.")
            return
        headers = [(b"etag", served.etag.encode()), (b"cache-control", b"no-cache"), (b"vary", b"Accept-Encoding")]
        not_modified = etag_matches(header(scope, b"if-none-match"), served.etag)
        SDK_POLLS.labels("not_modified" if not_modified else "ok").inc()
        if not_modified:
            await respond(send, 304, b"", headers)
        elif accepts_gzip(scope):
            headers += [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
            await respond(send, 200, b"" if scope["method"] == "HEAD" else served.gzip(), headers)
        else:
            headers.append((b"content-type", b"application/json"))
            await respond(send, 200, b"" if scope["method"] == "HEAD" else served.body, headers)

    # -----------------------------------------------------------------------------------------
    # GET /api/v1/sdk/stream (docs/streaming.md)

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.admission.too_late(scope) or not self.admission.admit_stream():
            await self._overloaded(send)
            return
        checked = await self._authenticate(scope, sdk_keys.digest_of(bearer(scope)))
        if isinstance(checked, Refused):
            await self._refuse_key(scope, send, checked)
            return
        digest, key = checked
        feed = self.store.feed(key)
        served = await self.store.current(feed)
        if served is None:
            await self._unavailable(send)
            return
        await self.store.load_history(feed)
        stream = Stream(digest, accepts_gzip(scope), _last_event_id(scope))
        if stream.version is None:
            stream.push(served.put())
            for event in feed.chain(served.version) or ():
                stream.push(event)
        else:  # resuming: the patches since that version, or the whole document
            feed.catch_up(stream)
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        if stream.gzip:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        heartbeat = HEARTBEAT_DEFLATED if stream.gzip else HEARTBEAT
        first = (assembly.GZIP_HEADER if stream.gzip else b"") + heartbeat
        feed.streams.add(stream)
        self.admission.streams += 1
        SDK_CONNECTIONS.inc()
        watcher = asyncio.ensure_future(_close_on_disconnect(receive, stream))
        write = scope.get(CHUNK_WRITER)

        async def send_body(chunk: bytes) -> None:
            stream.write = None  # nothing is written past bytes still being sent
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            stream.write = write

        try:
            await send_body(first)
            while not stream.closed:
                if stream.queue:
                    chunk, stream.queue = b"".join(stream.queue), []
                    await send_body(chunk)
                    continue
                stream.wake.clear()
                try:
                    await asyncio.wait_for(stream.wake.wait(), settings.SDK_STREAM_HEARTBEAT_S)
                except TimeoutError:
                    await send_body(heartbeat)
        finally:
            stream.write = None
            feed.streams.discard(stream)
            self.admission.streams -= 1
            SDK_CONNECTIONS.dec()
            watcher.cancel()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -----------------------------------------------------------------------------------------
    # Keys and limits

    async def _authenticate(self, scope: Scope, digest: str | None) -> tuple[str, KeyInfo] | Refused:
        """The request's SDK key, by its ``sdk_keys.digest_of`` (taken once a request); wrong keys
        count against the client address's failure bucket (the REST API's,
        THROTTLE_AUTH_FAILURES), and an address that used it up gets no new key looked up until
        it refills."""

        async def may_look_up() -> bool:  # the client address is parsed only for unknown keys
            return await self.buckets.wait(self._failures_bucket(scope), settings.THROTTLE_AUTH_FAILURES) == 0

        checked = await self.keys.check(digest, may_look_up)
        if checked is INVALID:
            await self.buckets.take(self._failures_bucket(scope), settings.THROTTLE_AUTH_FAILURES)
        return checked

    @staticmethod
    def _failures_bucket(scope: Scope) -> str:
        peer = scope.get("client") or ("", 0)
        forwarded = header(scope, b"x-forwarded-for")
        address = ratelimit.client_address(
            peer[0], forwarded.decode("latin-1") if forwarded else None, settings.TRUSTED_PROXY_COUNT
        )
        return f"auth-failures:{address or 'unknown'}"  # the REST API's bucket (api/throttling.py)

    def _poll_bucket(self, key_id: int) -> ratelimit.LocalBucket:
        bucket = self._poll_buckets.get(key_id)
        if bucket is None:
            bucket = self._poll_buckets[key_id] = ratelimit.LocalBucket(settings.THROTTLE_SDK_POLLS, time.monotonic())
        return bucket

    # -----------------------------------------------------------------------------------------
    # Refusals

    async def _overloaded(self, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"retry-after", self.admission.retry_after())]
        await respond(send, 503, OVERLOADED, headers)

    async def _unavailable(self, send: Send) -> None:
        await respond_json(
            send,
            503,
            {"detail": "The SDK document cannot be read right now (Redis and PostgreSQL unreachable)."},
            [(b"retry-after", self.admission.retry_after())],
        )

    async def _throttled(self, send: Send, wait_s: float, detail: str) -> None:
        retry_after = str(ratelimit.retry_after(wait_s)).encode()
        await respond_json(send, 429, {"detail": detail}, [(b"retry-after", retry_after)])

    async def _refuse_key(self, scope: Scope, send: Send, refused: Refused) -> None:
        if refused is THROTTLED:
            wait_s = await self.buckets.wait(self._failures_bucket(scope), settings.THROTTLE_AUTH_FAILURES)
            await self._throttled(send, wait_s, "Too many wrong credentials from your address.")
        elif refused is INVALID:
            await respond_json(
                send,
                401,
                {"detail": "Invalid or revoked SDK key (Authorization: Bearer fp_srv_…)."},
                [(b"www-authenticate", b'Bearer realm="flagplane-sdk"')],
            )
        else:
            await respond_json(
                send,
                503,
                {"detail": "The SDK key cannot be verified right now."},
                [(b"retry-after", self.admission.retry_after())],
            )

    # -----------------------------------------------------------------------------------------
    # Background

    async def _listen(self) -> None:
        """One subscription to the events channel per process, for as long as it runs."""
        delay = 0.1
        while True:
            subscriber = aioredis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=settings.REDIS_TIMEOUT_S, socket_keepalive=True
            )
            pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(cache.events_channel())
                # Whatever was announced while unsubscribed is found by checking again.
                self.keys.expire_all()
                self.store.expire_all()
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._dispatch(message["data"])
            except (RedisError, OSError) as exc:
                logger.warning("Events subscription lost (%s); resubscribing in %.1f s", exc, delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await subscriber.aclose()
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)

    def _dispatch(self, message: bytes) -> None:
        event = events.decode(message)
        if event is None:
            return
        if event.type == events.SDK_KEY_REVOKED:
            digest = str(event.header.get("digest"))
            self.keys.revoked(digest)
            for feed in self.store.feeds.values():
                for stream in list(feed.streams):
                    if stream.digest == digest:
                        stream.close()
            return
        feed = self.store.on_event(event)
        if feed is not None:
            refresh = asyncio.ensure_future(self.store.refresh(feed))
            self._refreshing.add(refresh)  # keep a reference until it is done
            refresh.add_done_callback(self._refreshing.discard)

    async def _verify(self) -> None:
        while True:
            await asyncio.sleep(settings.EDGE_VERIFY_SECONDS)
            try:
                await self.store.verify()
            except Exception:
                logger.exception("Verifying served documents failed")

    async def _touch(self) -> None:
        while True:
            await asyncio.sleep(TOUCH_EVERY_S)
            used = self.keys.take_used()
            try:
                await workers.run(sdk_keys.touch, used)
            except DatabaseError:
                self.keys.used |= used


def _last_event_id(scope: Scope) -> int | None:
    value = header(scope, b"last-event-id")
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    return int(text) if text.isdecimal() and len(text) < 12 else None


async def _close_on_disconnect(receive: Receive, stream: Stream) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stream.close()
            return
