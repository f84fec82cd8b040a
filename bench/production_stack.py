"""The control plane's processes as deploy/Procfile runs them, for benchmarks: the web server
(``uvicorn controlplane.asgi:application``: the edge for the SDK paths, Django for the rest),
a Celery worker and Celery beat (with a schedule file of its own), on the settings given
(a scratch database, Redis prefix and queue: see ``document_build.scratch_environment``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    def __init__(self, directory: Path, settings: dict[str, str], web_workers: int = 2) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environment = {**os.environ, **settings, "LOG_LEVEL": "INFO"}
        tag = settings["CELERY_QUEUE"]
        self.commands = {
            "web": [str(BIN / "uvicorn"), "controlplane.asgi:application", "--host", "127.0.0.1",
                    "--port", str(self.port), "--workers", str(web_workers), "--loop", "uvloop",
                    "--http", "controlplane.edge.protocol:TimedHttpToolsProtocol", "--no-access-log",
                    "--timeout-graceful-shutdown", "2"],
            "worker": [str(BIN / "celery"), "-A", "controlplane", "worker", "--loglevel", "INFO",
                       "--concurrency", "2", "--without-gossip", "--without-mingle", "--hostname", f"{tag}@%h"],
            "beat": [str(BIN / "celery"), "-A", "controlplane", "beat", "--loglevel", "INFO",
                     "--schedule", str(directory / "celerybeat-schedule")],
        }  # fmt: skip
        self.processes: dict[str, subprocess.Popen] = {}

    def log(self, role: str) -> Path:
        return self.directory / f"{role}.log"

    def start(self) -> None:
        for role, command in self.commands.items():
            with self.log(role).open("ab") as log:
                self.processes[role] = subprocess.Popen(
                    command, cwd=ROOT, env=self.environment, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
        self._wait(lambda: "ready." in self.log("worker").read_text(errors="replace"), "the Celery worker")
        self._wait(lambda: "Starting" in self.log("beat").read_text(errors="replace"), "Celery beat")
        self._wait(self._web_answers, "the web server")

    def _web_answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/healthz", timeout=2).read()
            return True
        except OSError:
            return False

    def _wait(self, condition, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for role, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{role} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start within {timeout:g} s")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to each process group, SIGKILL to those still there after 15 s."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def log_tail(self, characters: int = 3000) -> str:
        return "\n".join(
            f"--- {role} ---\n{self.log(role).read_text(errors='replace')[-characters:]}" for role in self.commands
        )
