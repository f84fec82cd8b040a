"""A real control plane for SDK tests: gunicorn serving the test database, stoppable at will."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(database: dict) -> str:
    credentials = quote(database["USER"]) + (f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"


class ControlPlane:
    """gunicorn with the production settings module, pointed at the test database and Redis."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = tmp_path / "access.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
            "DATABASE_URL": database_url(connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "controlplane.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--access-logfile", str(self.access_log), "--log-level", "warning"],
            cwd=ROOT, env=environment, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/admin/login/", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def responses(self, status: int) -> int:
        """How many SDK config polls got this status, from gunicorn's access log."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        return sum(1 for line in lines if "/api/v1/sdk/config" in line and f'" {status} ' in line)


@pytest.fixture
def control_plane(transactional_db, tmp_path):
    plane = ControlPlane(tmp_path)
    plane.start()
    yield plane
    plane.stop()
