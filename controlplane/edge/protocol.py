"""The web server's HTTP protocol: uvicorn's httptools protocol, with each request's arrival time.

``uvicorn --http controlplane.edge.protocol:TimedHttpToolsProtocol`` (deploy/entrypoint.sh).
The time a request's first bytes were read is put in its scope (``RECEIVED_AT``), so the edge
knows how long a request waited in this process before it got to run, and refuses requests that
waited too long (``admission.py``). Without this protocol the edge still works, judging the wait
by the event loop's lag alone.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RECEIVED_AT = "flagplane.received_at"
"""Scope key: the event loop's time (``loop.time()``) when the request's first bytes were read."""


class TimedHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[RECEIVED_AT] = self.loop.time()  # type: ignore[literal-required]
