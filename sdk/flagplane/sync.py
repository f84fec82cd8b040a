"""Keeping a client's document current, on its background thread (docs/sdk.md, "Updates").

By default the client holds a stream open (``GET /api/v1/sdk/stream``): the whole document on
connect, then one small ``patch`` per change, heartbeats in between. When the stream cannot be
had it polls ``GET /api/v1/sdk/config`` instead, and goes back to streaming when it can:

* the control plane unreachable, or a 5xx from it or a proxy in front (a 502/504 while it is
  down): reconnect after a short jittered delay, capped at ``STREAM_RECONNECT_MAX_S``, so a
  change is seen within ~2 s of the outage ending;
* the server answers the stream with something else than events (an older control plane that
  has no stream, 404/501; a proxy that does not pass SSE, or nothing but silence): poll every
  ``poll_interval`` and try the stream again after ``STREAM_RETRY_S``;
* 429/503 with Retry-After (load shedding): wait that long; a poll refused so is not repeated
  sooner than the next regular poll would be (a client that has a document keeps serving it),
  so that shedding never makes an SDK ask more often;
* 401/403: the key is refused; retry slowly (``backoff_max``).

A document or patch this SDK cannot use is rejected (the last good document keeps serving)
without slowing the transport: the next attempt comes at the normal pace.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from typing import TYPE_CHECKING

from flagplane.backoff import Backoff
from flagplane.cache import append_patch, write_cache
from flagplane.errors import InvalidDocument
from flagplane.gcpause import gc_paused
from flagplane.patching import PatchMismatch, apply_patch, patch_versions
from flagplane.reading import compile_text
from flagplane.snapshot import Snapshot

if TYPE_CHECKING:
    from flagplane.replica import Replica
    from flagplane.stream import SseEvent, StreamConnection

logger = logging.getLogger("flagplane")

STREAM_RECONNECT_BASE_S = 0.1
STREAM_RECONNECT_MAX_S = 1.0
STREAM_RETRY_S = 60.0
"""After the stream turned out unusable, poll this long before trying it again."""
SILENT_STREAMS_BEFORE_POLLING = 2
"""Streams in a row that time out without a single event (a buffering proxy, say)."""


def compile_body(body: bytes) -> Snapshot:
    """A document received from the control plane, compiled one flag at a time (``reading``);
    raises ValueError/InvalidDocument."""
    with gc_paused():
        return compile_text(body.decode(json.detect_encoding(body), "surrogatepass"))


class Sync:
    def __init__(self, client: Replica, stop: threading.Event) -> None:
        self._client = client
        self._stop = stop
        self._poll_backoff = Backoff(client._backoff_base, client._backoff_max)
        self._stream_backoff = Backoff(STREAM_RECONNECT_BASE_S, STREAM_RECONNECT_MAX_S)
        self._poll_until = 0.0
        self._silent_streams = 0
        self._resync_at: float | None = None
        self._connection: StreamConnection | None = None
        self.mode: str | None = None
        """"streaming" or "polling": how the document is kept current right now."""

    def run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            try:
                if self._client._stream and time.monotonic() >= self._poll_until:
                    delay = self._stream_once()
                else:
                    delay = self._poll_once()
            except Exception as exc:  # defensive: the loop must survive anything
                logger.exception("flagplane: unexpected refresh failure")
                self._client._failed(f"unexpected: {exc!r}", "unreachable")
                delay = self._poll_backoff.next_delay()

    def abort(self) -> None:
        """End a blocked stream read now (close())."""
        connection = self._connection
        if connection is not None:
            connection.abort()

    # -----------------------------------------------------------------------------------------
    # Streaming

    def _stream_once(self) -> float:
        import http.client  # lazily, like urllib: heavy to import for processes that never sync

        from flagplane.stream import StreamConnection

        client = self._client
        resync = self._resync_at is not None and time.monotonic() >= self._resync_at
        snapshot = client._snapshot
        last = None if resync or snapshot is None else snapshot.version
        if resync:
            self._resync_at = None
        connection = StreamConnection(
            client._base_url, client._sdk_key, last, client._request_timeout
        )
        self._connection = connection
        try:
            try:
                status = connection.open()
            except (OSError, http.client.HTTPException) as exc:
                client._failed(f"cannot reach the control plane: {exc}", "unreachable")
                return self._stream_backoff.next_delay()
            if status != 200:
                return self._stream_refused(status, connection.retry_after)
            return self._read(connection)
        finally:
            self._connection = None
            connection.abort()

    def _stream_refused(self, status: int, retry_after: float | None) -> float:
        client = self._client
        if status in (401, 403):
            client._failed(f"HTTP {status} (check the sdk_key)", "refused")
            return self._poll_backoff.next_delay(retry_after)
        if status == 429 or (status >= 500 and status != 501):  # 501: no stream, like a 404
            why = "shedding load" if status in (429, 503) else "unavailable"
            client._failed(f"HTTP {status}: the control plane is {why}", "unreachable")
            return self._stream_backoff.next_delay(retry_after)
        logger.info("flagplane: no stream here (HTTP %s); polling instead", status)
        self._poll_until = time.monotonic() + STREAM_RETRY_S
        return 0.0

    def _read(self, connection: StreamConnection) -> float:
        import http.client

        from flagplane.stream import StreamClosed

        client = self._client
        heard = False
        try:
            for event in connection.events(client._stream_read_timeout):
                if self._stop.is_set():
                    return 0.0
                if not heard:
                    heard = True
                    self.mode = "streaming"
                    self._silent_streams = 0
                    self._stream_backoff.reset()
                    self._poll_backoff.reset()
                    if client._snapshot is not None:  # else ready once the document (put) came
                        client._succeeded()
                if event.kind == "put":
                    self._apply_put(event)
                elif event.kind == "patch" and not self._apply_patch(event):
                    return 0.0  # a version is missing: reconnect, the server sends what we lack
                if self._resync_at is not None:  # rejected: ask for everything again, later
                    return max(0.0, self._resync_at - time.monotonic())
        except (StreamClosed, OSError, http.client.HTTPException) as exc:
            if self._stop.is_set():
                return 0.0
            if not heard and isinstance(exc, TimeoutError):
                self._silent_streams += 1
                if self._silent_streams >= SILENT_STREAMS_BEFORE_POLLING:
                    logger.warning(
                        "flagplane: the stream stays silent; polling instead for a while"
                    )
                    self._poll_until = time.monotonic() + STREAM_RETRY_S
                    return 0.0
            client._failed(f"stream interrupted: {exc or type(exc).__name__}", "unreachable")
        return self._stream_backoff.next_delay()

    def _apply_put(self, event: SseEvent) -> None:
        client = self._client
        try:
            snapshot = compile_body(event.data)
        except (ValueError, InvalidDocument) as exc:
            self._rejected(exc)
            return
        if client._install(snapshot, "network"):
            client._etag = None
            self._write_cache(event.data)
        client._succeeded()

    def _apply_patch(self, event: SseEvent) -> bool:
        """Apply a patch; False if it does not follow the served version (resync needed)."""
        client = self._client
        snapshot = client._snapshot
        try:
            patch = json.loads(event.data)
            _, version = patch_versions(patch)
            if snapshot is None:
                raise PatchMismatch("no document yet")
            if version <= snapshot.version:
                return True  # already served (a resumed stream repeats nothing newer)
            patched = apply_patch(snapshot, patch)
        except PatchMismatch:
            return False
        except (ValueError, InvalidDocument) as exc:
            self._rejected(exc)
            return True
        if client._install(patched, "network"):
            client._etag = None
            self._append_cache(event.data)
        return True

    def _rejected(self, exc: Exception) -> None:
        self._client._failed(f"rejected document, keeping the last good one: {exc}", "rejected")
        # Ask for the whole document again, at the normal pace, not sooner.
        self._resync_at = time.monotonic() + self._client._poll_interval

    # -----------------------------------------------------------------------------------------
    # Polling

    def _poll_once(self) -> float:
        """One poll. Returns the delay before the next one."""
        from flagplane.transport import fetch_config  # lazily: urllib is heavy to import

        client = self._client
        self.mode = "polling"
        try:
            response = fetch_config(
                client._base_url, client._sdk_key, client._etag, client._request_timeout
            )
        except Exception as exc:
            client._failed(f"cannot reach the control plane: {exc}", "unreachable")
            return self._poll_failed(None)
        if response.status == 304:
            if client._snapshot is not None:
                client._source = "network"  # the cached document is confirmed current
            self._poll_succeeded()
            return self._next_poll()
        if response.status != 200:
            refused = response.status in (401, 403)
            hint = " (check the sdk_key)" if refused else ""
            client._failed(f"HTTP {response.status}{hint}", "refused" if refused else "unreachable")
            if response.status in (429, 503) and client._snapshot is not None:
                return max(self._poll_failed(response.retry_after), self._next_poll())
            return self._poll_failed(response.retry_after)
        if response.etag is not None and response.etag == client._etag and client._snapshot:
            self._poll_succeeded()
            return self._next_poll()
        try:
            snapshot = compile_body(response.body)
        except (ValueError, InvalidDocument) as exc:
            client._failed(f"rejected document, keeping the last good one: {exc}", "rejected")
            return self._next_poll()
        if client._install(snapshot, "network"):
            client._etag = response.etag
            self._write_cache(response.body, response.etag)
        self._poll_succeeded()
        return self._next_poll()

    def _poll_succeeded(self) -> None:
        self._poll_backoff.reset()
        self._client._succeeded()

    def _poll_failed(self, retry_after: float | None) -> float:
        """Back off, but never wait longer than the normal interval (recovery within one poll),
        unless the server asked for longer."""
        delay = min(self._poll_backoff.next_delay(), self._client._poll_interval)
        return max(delay, min(retry_after, 3600.0)) if retry_after is not None else delay

    def _next_poll(self) -> float:
        return self._client._poll_interval * random.uniform(0.9, 1.1)

    # -----------------------------------------------------------------------------------------
    # The cache file

    def _write_cache(self, body: bytes, etag: str | None = None) -> None:
        path = self._client._cache_path
        if path is None:
            return
        try:
            write_cache(path, body, etag, time.time())
        except Exception as exc:
            logger.warning("flagplane: cannot write cache %s: %s", path, exc)

    def _append_cache(self, patch: bytes) -> None:
        path = self._client._cache_path
        if path is None:
            return
        try:
            append_patch(path, patch)
        except Exception as exc:
            logger.warning("flagplane: cannot write cache %s: %s", path, exc)
