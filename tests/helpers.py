"""Helpers every test package may use (import them; fixtures stay in conftest.py)."""

from __future__ import annotations

import time

IDLE_CHECKS = 3  # consecutive idle looks, so a task picked up between two looks is not missed
IDLE_INTERVAL_S = 0.05


def worker_is_idle() -> bool:
    """Nothing queued for the test worker, and nothing it has received is waiting or running."""
    from celery.worker import state

    from controlplane.celery import app

    with app.connection_for_write() as connection:
        queued = connection.default_channel.client.llen(app.conf.task_default_queue)
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
