"""The production web server (uvicorn with the edge in front of Django) as a subprocess of the
tests, on the test database and Redis, and a small HTTP client for it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from flagplane.stream import parse_block

ROOT = Path(__file__).resolve().parents[2]
HTTP_PROTOCOL = "controlplane.edge.protocol:TimedHttpToolsProtocol"  # as deploy/entrypoint.sh runs it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(database: dict) -> str:
    credentials = quote(database["USER"]) + (f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"


def server_environment(**overrides: str) -> dict[str, str]:
    """The environment of a control-plane process on the test database, Redis and queue."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_PREFIX": settings.REDIS_PREFIX,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "EDGE_VERIFY_SECONDS": "0.5",
        # Tests send wrong keys on purpose, all from 127.0.0.1; test_config.py checks the limit.
        "THROTTLE_AUTH_FAILURES": "100000/min",
        **overrides,
    }


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Reply:
    status: int
    headers: Message  # case-insensitive, like HTTP
    body: bytes


class WebServer:
    """``uvicorn controlplane.asgi:application`` as deploy/Procfile runs it, on a free port."""

    def __init__(self, log_path: Path, workers: int = 2, **environment: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.workers = workers
        self.environment = environment
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "controlplane.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--loop", "uvloop", "--http", HTTP_PROTOCOL,
             "--timeout-graceful-shutdown", "2"],
            cwd=ROOT, env=server_environment(**self.environment), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/admin/login/", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)

    def get(self, path: str, key: str | None = None, **headers: str) -> Reply:
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url + path, headers={k.replace("_", "-"): v for k, v in headers.items()})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers, error.read())

    def log_lines(self, needle: str) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if needle in line]


class Events:
    """An open SSE connection to ``/api/v1/sdk/stream``, read as far as the test asks."""

    def __init__(self, url: str, key: str, last_event_id: int | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        request = urllib.request.Request(url + "/api/v1/sdk/stream", headers=headers)
        self.response = urllib.request.urlopen(request, timeout=10)
        self.received = b""

    def read_until(self, needle: bytes, timeout: float = 30) -> None:
        """Read until ``needle`` arrives (each read waits for the next event or heartbeat)."""
        start, deadline = len(self.received), time.monotonic() + timeout
        while needle not in self.received[start:]:
            assert time.monotonic() < deadline, f"no {needle!r} within {timeout:g} s: {self.received[start:]!r}"
            chunk = self.response.read1()
            assert chunk, self.received
            self.received += chunk

    def events(self) -> list[tuple[str, int, bytes]]:
        """The events received whole so far, as (event type, id, data); heartbeats left out."""
        blocks = map(parse_block, self.received.split(b"\n\n")[:-1])
        return [(event.kind, int(event.id), event.data) for event in blocks if event.kind]

    def close(self) -> None:
        self.response.close()
