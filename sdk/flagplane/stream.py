"""One Server-Sent Events connection to ``GET /api/v1/sdk/stream`` (docs/streaming.md).

Blocking, on the SDK's background thread only. The stream may be gzip-encoded (the SDK asks for
it): it is inflated as it arrives, and each event is handed over as soon as it is complete.
``abort()`` (from another thread) ends a blocked read at once.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from flagplane.transport import USER_AGENT, parse_retry_after

STREAM_PATH = "/api/v1/sdk/stream"
READ_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class SseEvent:
    kind: str
    """"put", "patch", ... ("" for a heartbeat)."""
    id: str | None
    data: bytes


class StreamClosed(Exception):
    """The server ended the stream (or the connection was aborted)."""


class StreamConnection:
    def __init__(
        self, base_url: str, sdk_key: str, last_event_id: int | None, timeout: float
    ) -> None:
        parts = urlsplit(base_url)
        host = parts.hostname or "localhost"
        self._connection: http.client.HTTPConnection
        if parts.scheme == "https":
            self._connection = http.client.HTTPSConnection(
                host, parts.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            self._connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        self._path = parts.path.rstrip("/") + STREAM_PATH
        self._sdk_key = sdk_key
        self._last_event_id = last_event_id
        self._response: http.client.HTTPResponse | None = None
        self._socket: socket.socket | None = None
        self.status = 0
        self.retry_after: float | None = None

    def open(self) -> int:
        """Send the request; returns the HTTP status (200: events follow). Raises OSError or
        http.client.HTTPException when the server cannot be reached."""
        headers = {
            "Authorization": f"Bearer {self._sdk_key}",
            "Accept": "text/event-stream",
            "Accept-Encoding": "gzip",
            "Cache-Control": "no-cache",
            "User-Agent": USER_AGENT,
        }
        if self._last_event_id is not None:
            headers["Last-Event-ID"] = str(self._last_event_id)
        self._connection.request("GET", self._path, headers=headers)
        # Kept apart: http.client lets go of it when the response is read to the close.
        self._socket = self._connection.sock
        self._response = self._connection.getresponse()
        self.status = self._response.status
        self.retry_after = parse_retry_after(self._response.getheader("Retry-After"))
        return self.status

    def events(self, read_timeout: float) -> Iterator[SseEvent]:
        """Events as they arrive; raises StreamClosed at the end, TimeoutError when nothing
        (not even a heartbeat) came for ``read_timeout`` seconds."""
        response = self._response
        assert response is not None and self.status == 200
        if self._socket is not None:
            self._socket.settimeout(read_timeout)
        gzipped = (response.getheader("Content-Encoding") or "").lower() == "gzip"
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        buffer = bytearray()
        scanned = 0
        while True:
            try:
                chunk = response.read1(READ_SIZE)
            except (ValueError, AttributeError) as exc:  # closed under us by abort()
                raise StreamClosed(str(exc)) from exc
            if not chunk:
                raise StreamClosed("the server closed the stream")
            buffer += inflater.decompress(chunk) if inflater is not None else chunk
            while True:
                end = buffer.find(b"\n\n", max(0, scanned - 1))
                if end < 0:
                    scanned = len(buffer)
                    break
                block = bytes(buffer[:end])
                del buffer[: end + 2]
                scanned = 0
                yield parse_block(block)

    def abort(self) -> None:
        """End the connection now (safe from any thread)."""
        sock = self._socket or self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()


def parse_block(block: bytes) -> SseEvent:
    """One SSE event block (the lines before a blank line)."""
    kind, event_id, data = "", None, []
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"event":
            kind = value.decode("utf-8", "replace")
        elif name == b"id":
            event_id = value.decode("utf-8", "replace")
        elif name == b"data":
            data.append(value)
    return SseEvent(kind, event_id, b"\n".join(data))
