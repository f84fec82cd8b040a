"""The document a ``Client`` serves and how it is kept current: loaded at start from the cache
file or a bootstrap, swapped in atomically as the background sync (``flagplane.sync``) reports
new documents, with the sync's state, change and sync listeners, the metrics flusher, and
what happens at fork and at exit.

``Client`` (``flagplane.client``) is a ``Replica`` with the evaluation and health-signal API
on top; ``Replica`` takes the client's options (``Client``'s docstring lists them).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from flagplane._warnings import WarnOnce
from flagplane.cache import read_cache
from flagplane.compiler import compile_document
from flagplane.errors import InvalidDocument
from flagplane.metrics import MetricsBuffer, MetricsSender
from flagplane.patching import PatchMismatch, apply_patch
from flagplane.reading import compile_text
from flagplane.snapshot import CompiledFlag, Snapshot
from flagplane.sync import Sync

logger = logging.getLogger("flagplane")

_EMPTY: dict[str, CompiledFlag] = {}


@dataclass(frozen=True, slots=True)
class Status:
    """What the client is serving and how fresh it is."""

    ready: bool
    """A document is loaded (from the network, the cache file or a bootstrap)."""
    source: str | None
    """Where the served document came from: "network", "cache", "bootstrap" or None."""
    stale_since: datetime | None
    """None while the last refresh succeeded; otherwise the time of the last successful sync
    (for a document loaded from the cache: when it was fetched; bootstrap: client start)."""
    last_error: str | None
    last_success: datetime | None
    document_version: int | None
    etag: str | None
    project: str | None
    environment: str | None
    closed: bool
    sync_state: str | None = None
    """How the last attempt to sync with the control plane went (a ``SyncState``), None before
    the first attempt and for offline clients."""
    connection: str | None = None
    """How the document is kept current: "streaming", "polling", or None (offline, closed)."""
    refused_version: int | None = None
    """The last document version refused because it was older than the one served (a
    control plane restored from an older state, say); None if that never happened."""


class SyncState(StrEnum):
    """The outcome of one attempt to sync with the control plane."""

    OK = "ok"
    """The served document is current."""
    UNREACHABLE = "unreachable"
    """No answer, or one that is no document (5xx, 429...): the last document keeps serving."""
    REFUSED = "refused"
    """The control plane refused the SDK key (HTTP 401/403): invalid or revoked."""
    REJECTED = "rejected"
    """A document came that this SDK cannot apply; the last good one keeps serving."""


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """Passed to change listeners after a new document was swapped in."""

    previous_version: int | None
    version: int
    changed_flags: tuple[str, ...]
    """Flags added, removed, or whose flag version changed; every flag when the document
    changed otherwise (e.g. a segment), since then any flag may evaluate differently."""


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _changed_flags(old: Snapshot | None, new: Snapshot) -> tuple[str, ...]:
    if old is None:
        return tuple(new.flags)
    changed = [
        key
        for key, flag in new.flags.items()
        if key not in old.flags or old.flags[key].version != flag.version
    ]
    changed.extend(key for key in old.flags if key not in new.flags)
    if not changed:  # e.g. only a segment changed: flag versions cannot tell which flags use it
        return tuple(new.flags)
    return tuple(changed)


_live_clients: weakref.WeakSet[Replica] = weakref.WeakSet()


class Replica:
    """A client's copy of its environment's document, and the threads that keep it current."""

    def __init__(
        self,
        sdk_key: str = "",
        base_url: str = "http://localhost:8000",
        poll_interval: float = 10.0,
        cache_path: str | os.PathLike[str] | None = None,
        bootstrap: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        metrics_flush_interval: float = 10.0,
        *,
        request_timeout: float = 5.0,
        send_metrics: bool = True,
        offline: bool = False,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_metrics_series: int = 10_000,
        stream: bool = True,
        stream_read_timeout: float = 45.0,
    ) -> None:
        # Hot-path state: evaluators read self._flags once per call; refreshes replace it
        # with a single attribute assignment.
        self._flags: Mapping[str, CompiledFlag] = _EMPTY
        self._snapshot: Snapshot | None = None

        self._sdk_key = sdk_key
        self._base_url = base_url
        self._poll_interval = max(0.01, float(poll_interval))
        self._cache_path = cache_path
        self._metrics_flush_interval = max(0.01, float(metrics_flush_interval))
        self._request_timeout = request_timeout
        self._offline = offline
        self._send_metrics = send_metrics and not offline
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_metrics_series = max_metrics_series
        self._stream = stream
        self._stream_read_timeout = stream_read_timeout
        self._refused_version: int | None = None

        self._source: str | None = None
        self._etag: str | None = None
        self._started_at = time.time()
        self._last_success: float | None = None
        self._stale_since: float | None = None
        self._last_error: str | None = None
        self._closed = False
        self._listeners: list[Callable[[ChangeEvent], None]] = []
        self._sync_listeners: list[Callable[[SyncState, str | None], None]] = []
        self._sync_state: SyncState | None = None
        self._threads: list[threading.Thread] = []
        self._init_process_state()

        self._load_initial(bootstrap)
        if offline:
            self._settled.set()
        else:
            self._start_threads()
        _live_clients.add(self)

    def _init_process_state(self) -> None:
        """Locks, events, buffers and backoff: everything a forked child must not inherit."""
        self._warn = WarnOnce()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._settled = threading.Event()
        if self._snapshot is not None and (self._offline or self._last_success is not None):
            self._settled.set()
        self._sync: Sync | None = None
        self._metrics = MetricsBuffer(max_series=self._max_metrics_series)
        self._sender = MetricsSender(self._post_batch, self._metrics)

    def _load_initial(self, bootstrap: Mapping[str, Any] | str | os.PathLike[str] | None) -> None:
        candidates: list[tuple[Snapshot, str, str | None, float | None]] = []
        if self._cache_path is not None:
            try:
                cached = read_cache(self._cache_path)
                if cached is not None:
                    snapshot, etag = compile_document(cached.document), cached.etag
                    for patch in cached.patches:
                        try:
                            snapshot, etag = apply_patch(snapshot, patch), None
                        except (PatchMismatch, InvalidDocument):
                            break
                    candidates.append((snapshot, "cache", etag, cached.fetched_at))
            except Exception as exc:  # corrupt or outdated cache: ignore it, say so
                logger.warning("flagplane: ignoring cache file %s: %s", self._cache_path, exc)
        if bootstrap is not None:
            try:
                if isinstance(bootstrap, Mapping):
                    snapshot = compile_document(bootstrap)
                else:  # read as the SDK reads a received document: one flag at a time
                    snapshot = compile_text(Path(bootstrap).read_text(encoding="utf-8"))
                candidates.append((snapshot, "bootstrap", None, None))
            except Exception as exc:
                logger.warning("flagplane: ignoring bootstrap document: %s", exc)
        if not candidates:
            return
        # The newest document wins; on a tie the cache (it came from the server).
        snapshot, source, etag, fetched_at = max(candidates, key=lambda c: c[0].version)
        self._install(snapshot, source)
        self._etag = etag
        if not self._offline:
            self._stale_since = fetched_at if fetched_at else self._started_at

    # ------------------------------------------------------------------------------------
    # Lifecycle

    def wait_until_ready(self, timeout: float = 2.0) -> bool:
        """Block until the first refresh settled (a document from the network, or the first
        attempt failed while a cached/bootstrap document is served). True if a document is
        being served. Call at startup, not per request."""
        self._settled.wait(timeout)
        return self._snapshot is not None

    async def wait_until_ready_async(self, timeout: float = 2.0) -> bool:
        """``wait_until_ready`` for asyncio: waits without blocking the event loop."""
        import asyncio  # imported lazily: it costs ~10 MB of RSS in processes that never use it

        deadline = time.monotonic() + timeout
        while not self._settled.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(0.01, remaining))
        return self._snapshot is not None

    def status(self) -> Status:
        snapshot = self._snapshot
        return Status(
            ready=snapshot is not None,
            source=self._source,
            stale_since=_utc(self._stale_since),
            last_error=self._last_error,
            last_success=_utc(self._last_success),
            document_version=snapshot.version if snapshot else None,
            etag=self._etag,
            project=snapshot.project if snapshot else None,
            environment=snapshot.environment if snapshot else None,
            closed=self._closed,
            sync_state=self._sync_state,
            connection=None if self._sync is None or self._closed else self._sync.mode,
            refused_version=self._refused_version,
        )

    def add_listener(self, listener: Callable[[ChangeEvent], None]) -> None:
        """Call ``listener(ChangeEvent)`` on the refresher thread after each document swap."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[ChangeEvent], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def add_sync_listener(self, listener: Callable[[SyncState, str | None], None]) -> None:
        """Call ``listener(state, error)`` on the background thread after every attempt to sync
        with the control plane (``error`` is None when the state is OK). For integrations that
        report connectivity (the OpenFeature provider's STALE/READY/FATAL); they must be quick."""
        self._sync_listeners.append(listener)

    def remove_sync_listener(self, listener: Callable[[SyncState, str | None], None]) -> None:
        with contextlib.suppress(ValueError):
            self._sync_listeners.remove(listener)

    def _notify_sync(self, state: SyncState, error: str | None) -> None:
        self._sync_state = state
        for listener in list(self._sync_listeners):
            try:
                listener(state, error)
            except Exception:
                logger.exception("flagplane: sync listener failed")

    def flush_metrics(self) -> bool:
        """Send buffered metrics now (blocking; called by the background flusher and close()).
        True when nothing is left unsent."""
        if not self._send_metrics:
            return True
        with self._flush_lock:  # harvesting must not run twice at once (double counting)
            self._metrics.harvest(self._flags.values())
            snapshot = self._snapshot
            batch = self._metrics.drain(snapshot.version if snapshot else None)
        if batch is not None:
            self._sender.enqueue(batch)
        return self._sender.send_all()

    def close(self) -> None:
        """Stop the background threads and flush metrics. Evaluation keeps working on the last
        document. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._sync is not None:
            self._sync.abort()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=self._request_timeout + 1.0)
        self._threads = []
        try:
            self.flush_metrics()
        except Exception as exc:
            logger.warning("flagplane: final metrics flush failed: %s", exc)
        _live_clients.discard(self)

    async def aclose(self) -> None:
        """``close`` for asyncio: runs the blocking shutdown in a worker thread."""
        import asyncio

        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------
    # Background work

    def _start_threads(self) -> None:
        stop = self._stop
        self._sync = Sync(self, stop)
        self._threads = [
            threading.Thread(target=self._sync.run, name="flagplane-refresh", daemon=True),
        ]
        if self._send_metrics:
            self._threads.append(
                threading.Thread(
                    target=self._metrics_loop, args=(stop,), name="flagplane-metrics", daemon=True
                )
            )
        for thread in self._threads:
            thread.start()

    def _metrics_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self._metrics_flush_interval):
            try:
                self.flush_metrics()
            except Exception:
                logger.exception("flagplane: unexpected metrics flush failure")

    def _succeeded(self) -> None:
        if self._last_error is not None:
            logger.info("flagplane: refresh recovered")
        self._last_error = None
        self._stale_since = None
        self._last_success = time.time()
        self._settled.set()
        self._notify_sync(SyncState.OK, None)

    def _failed(self, error: str, state: str) -> None:
        if self._last_error is None:
            logger.warning("flagplane: refresh failed: %s", error)
        else:
            logger.debug("flagplane: refresh failed again: %s", error)
        self._last_error = error
        if self._stale_since is None:
            self._stale_since = self._last_success or self._started_at
        if self._snapshot is not None or state == SyncState.REFUSED:
            self._settled.set()  # a refused key will not get better by waiting
        self._notify_sync(SyncState(state), error)

    def _install(self, snapshot: Snapshot, source: str) -> bool:
        """Swap in a new snapshot: one attribute assignment that evaluators pick up atomically.

        A document from the network older than the one served, for the same environment, is
        refused (False): a control plane or cache restored from an older state must never
        move SDKs back a version. The same version again is already served (False).
        """
        with self._lock:
            previous = self._snapshot
            if (
                source == "network"
                and previous is not None
                and (previous.project, previous.environment)
                == (snapshot.project, snapshot.environment)
                and snapshot.version <= previous.version
            ):
                self._source = "network"
                if snapshot.version < previous.version:
                    self._refuse_older(snapshot.version, previous.version)
                return False
            self._snapshot = snapshot
            self._flags = snapshot.flags
            self._source = source
        if previous is not None:
            with self._flush_lock:  # counts made on the old snapshot
                self._metrics.harvest(previous.flags.values())
        if self._listeners:
            event = ChangeEvent(
                previous.version if previous else None,
                snapshot.version,
                _changed_flags(previous, snapshot),
            )
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    logger.exception("flagplane: change listener failed")
        return True

    def _refuse_older(self, refused: int, served: int) -> None:
        if self._refused_version != refused:
            logger.warning(
                "flagplane: refused document version %s: older than version %s, which is served",
                refused,
                served,
            )
        self._refused_version = refused

    def _post_batch(self, batch: dict[str, Any]) -> int:
        from flagplane.transport import post_metrics

        response = post_metrics(self._base_url, self._sdk_key, batch, self._request_timeout)
        if 400 <= response.status < 500 and response.status not in (408, 429):
            logger.warning(
                "flagplane: metrics batch refused with HTTP %s; dropped", response.status
            )
        return response.status

    def _after_fork_in_child(self) -> None:
        """A forked child (gunicorn --preload, Celery prefork) gets fresh locks, an empty
        metrics buffer and its own background threads; the parent keeps reporting its own."""
        self._init_process_state()
        for flag in self._flags.values():
            if any(flag.counts):
                flag.reported = list(flag.counts)
        if not self._closed and not self._offline:
            self._start_threads()


def _reinit_clients_after_fork() -> None:
    for client in list(_live_clients):
        try:
            client._after_fork_in_child()
        except Exception:
            logger.exception("flagplane: could not restart a client after fork")


def _flush_clients_at_exit() -> None:
    for client in list(_live_clients):
        with contextlib.suppress(Exception):
            client.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_clients_after_fork)
atexit.register(_flush_clients_at_exit)
