"""Private services the fault tests break on purpose: a redis-server, a Celery worker and beat,
and a web server, all on the test database and the private Redis (never the shared ones)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from tests.edge.helpers import ROOT, WebServer, free_port, server_environment, stop_process


def wait_until(condition, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


class PrivateRedis:
    """``redis-server`` on a free port in its own directory: frozen, killed, and restarted from
    a snapshot taken earlier."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="fp-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--dbfilename", "dump.rdb"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, 20, f"redis-server on port {self.port}", self.process)

    def _answers(self) -> bool:
        try:
            return self.client().ping()
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def snapshot(self) -> Path:
        """Save the data set now; ``restart_from`` brings it back later."""
        self.client().save()
        saved = self.directory / f"snapshot-{time.monotonic_ns()}.rdb"
        shutil.copy(self.directory / "dump.rdb", saved)
        return saved

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts connections but nothing answers (a hung server)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.thaw()
            self.process.kill()
            self.process.wait(10)

    def restart_from(self, snapshot: Path) -> None:
        """Kill the server and start it again, on the same port, with an older data set."""
        self.kill()
        shutil.copy(snapshot, self.directory / "dump.rdb")
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class CeleryProcess:
    """``celery -A controlplane worker`` (or ``beat``) as a subprocess on the test database and
    the private Redis; killable with SIGKILL and restartable."""

    def __init__(self, role: str, log_path: Path, **environment: str) -> None:
        self.role = role
        self.log_path = log_path
        self.environment = environment
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        base = [sys.executable, "-m", "celery", "-A", "controlplane"]
        queue = self.environment["CELERY_QUEUE"]
        if self.role == "beat":
            schedule = self.log_path.with_suffix(".schedule")
            return [*base, "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
        return [*base, "worker", "--pool", "solo", "--queues", queue, "--loglevel", "INFO", "--without-gossip",
                "--without-mingle", "--without-heartbeat", "--hostname", f"faults-{os.getpid()}@%h"]  # fmt: skip

    def start(self) -> None:
        self._logged_before = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), cwd=ROOT, env=server_environment(**self.environment), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        ready = "ready." if self.role == "worker" else "beat: Starting"
        wait_until(lambda: ready in self.log_since_start(), 60, f"celery {self.role}", self.process)

    def log_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._logged_before)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: what it had received and not acknowledged stays with the broker."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)


class Stack:
    """Web (uvicorn, the production layout), a Celery worker and beat, on the private Redis and
    the test database (or the ``overrides``: the ``DATABASE_URL`` of a private PostgreSQL)."""

    def __init__(
        self, directory: Path, redis_server: PrivateRedis, reconcile_seconds: float = 1.0, **overrides: str
    ) -> None:
        from django.conf import settings

        self.redis = redis_server
        self.reconcile_seconds = reconcile_seconds
        environment = {
            "REDIS_URL": redis_server.url,
            "CELERY_BROKER_URL": redis_server.url,
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE + "-faults",
            "DOCUMENTS_RECONCILE_SECONDS": str(reconcile_seconds),
            **overrides,
        }
        self.web = WebServer(directory / "uvicorn.log", workers=1, **environment)
        self.worker = CeleryProcess("worker", directory / "worker.log", **environment)
        self.beat = CeleryProcess("beat", directory / "beat.log", **environment)

    def start(self) -> None:
        self.worker.start()
        self.beat.start()
        self.web.start()

    def stop(self) -> None:
        for part in (self.web, self.beat, self.worker):
            part.stop()
