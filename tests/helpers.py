"""Helpers every test package may use (import them; fixtures stay in conftest.py)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

IDLE_CHECKS = 3  # consecutive idle looks, so a task picked up between two looks is not missed
IDLE_INTERVAL_S = 0.05


def worker_is_idle() -> bool:
    """Nothing queued for the test worker, and nothing it has received is waiting or running.

    A broker that does not answer within the product's short timeout (a loaded machine) means
    "not known to be idle": the caller looks again."""
    from celery.worker import state
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    from controlplane.celery import app

    try:
        with app.connection_for_write() as connection:
            queued = connection.default_channel.client.llen(app.conf.task_default_queue)
    except (OSError, OperationalError, RedisError):
        return False
    return not queued and not state.active_requests and not state.reserved_requests


def wait_until_worker_idle(timeout: float = 30.0) -> None:
    """Wait until the session's Celery worker has run every task queued so far."""
    deadline = time.monotonic() + timeout
    idle_looks = 0
    while time.monotonic() < deadline:
        idle_looks = idle_looks + 1 if worker_is_idle() else 0
        if idle_looks >= IDLE_CHECKS:
            return
        time.sleep(IDLE_INTERVAL_S)
    raise RuntimeError(f"the Celery worker did not become idle within {timeout:g} s")


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.1, on_each=None):
    """The first truthy value of ``predicate()`` (``on_each()`` called before each look), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_each:
            on_each()
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


# --- tests that start real processes (a web server, a Celery worker, redis-server, Prometheus) ---

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(database: dict) -> str:
    """The URL of a Django database (the test database), for a process started outside pytest."""
    credentials = quote(database["USER"]) + (f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"


def wait_for_http(url: str, timeout: float = 30.0, process=None) -> None:
    """Until ``url`` answers at all (any HTTP status); fails early if ``process`` exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process for {url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")
