"""A local HTTP server that plays a service the control plane talks to: Prometheus, a webhook
receiver, an HTTP health source, an external check, a static site.

``serve(answer)`` answers every GET and POST with ``answer(request)``, each request in a thread of
its own (a slow answer holds no other request up). Use it as a context manager, or ``close()`` it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


Answer = Callable[[Request], Response | bytes]
"""What the server sends for a request: a Response, or bytes written as they are (not HTTP)."""


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 at a free port, serving from a thread of its own."""

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port: int = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Quiet(BaseHTTPRequestHandler):
    """No line on stderr for each request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(answer: Answer) -> LocalServer:
    """A LocalServer that answers every GET and POST with ``answer(request)``."""

    class Handler(_Quiet):
        def respond(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            response = answer(Request(self.command, self.path, dict(self.headers.items()), body))
            if isinstance(response, bytes):
                self.wfile.write(response)
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = respond

    return LocalServer(Handler)


class _QuietFiles(_Quiet, SimpleHTTPRequestHandler):
    pass


def serve_directory(directory: Path | str) -> LocalServer:
    """The files below ``directory``, as a static site."""
    return LocalServer(partial(_QuietFiles, directory=str(directory)))
