"""The web server's HTTP protocol: uvicorn's httptools protocol, with each request's arrival time
and a direct writer for streamed response bodies.

``uvicorn --http controlplane.edge.protocol:TimedHttpToolsProtocol`` (deploy/entrypoint.sh).
The time a request's first bytes were read is put in its scope (``RECEIVED_AT``), so the edge
knows how long a request waited in this process before it got to run, and refuses requests that
waited too long (``admission.py``). The request's ``ChunkWriter`` is put in its scope too
(``CHUNK_WRITER``), so the edge can write one event to all its streams in one pass, without
waking each stream's task (``feeds.Stream.push``). Without this protocol the edge still works,
judging the wait by the event loop's lag alone and writing through each stream's task.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

RECEIVED_AT = "flagplane.received_at"
"""Scope key: the event loop's time (``loop.time()``) when the request's first bytes were read."""
CHUNK_WRITER = "flagplane.chunk_writer"
"""Scope key: the request's ``ChunkWriter``."""


class ChunkWriter:
    """Writes a piece of a started, chunked response body to the connection now, as the ASGI
    ``send`` of ``http.response.body`` with ``more_body`` would, but without a coroutine. It
    refuses (False) whenever ``send`` would not write at once: the response not started, not
    chunked or complete, the client gone, or writing paused because the client reads slowly;
    the caller then sends the bytes through ASGI, which waits for the client."""

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle

    def __call__(self, data: bytes) -> bool:
        cycle = self._cycle
        if (
            not cycle.response_started
            or cycle.response_complete
            or not cycle.chunked_encoding
            or cycle.disconnected
            or cycle.flow.write_paused
            or cycle.transport.is_closing()
        ):
            return False
        cycle.transport.write(b"%x\r\n%s\r\n" % (len(data), data))
        return True


class TimedHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[RECEIVED_AT] = self.loop.time()  # type: ignore[literal-required]

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:  # not an upgrade
            self.scope[CHUNK_WRITER] = ChunkWriter(self.cycle)  # type: ignore[literal-required]
