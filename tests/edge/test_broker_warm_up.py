"""A web process connects to the broker as it starts (``broker.warm_up``), so that the first write
it serves is queued on a connection that is already there, not after the Celery app's first
finalizing, imports and connection (100-200 ms measured inside the first change's propagation)."""

from __future__ import annotations

import time

import pytest
from celery import Celery

from controlplane import broker

pytestmark = pytest.mark.integration

QUEUE = "warm-up-test"


def private_app(redis_url: str, task: str) -> Celery:
    """A Celery app on the private Redis with one task named ``task`` (unique per test: Celery
    warns about a name registered twice, even on two apps)."""
    app = Celery("warm-up", broker=redis_url, set_as_current=False)
    app.conf.task_default_queue = QUEUE
    app.conf.broker_transport_options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "max_retries": 0}

    @app.task(name=task)
    def nothing() -> None:
        pass

    return app


def test_after_warm_up_the_first_task_is_queued_on_the_connection_already_open(private_redis, monkeypatch):
    monkeypatch.setattr(broker, "_down_until", 0.0)
    app = private_app(private_redis.url, "warm_up.first_task")
    redis = private_redis.client()
    alone = len(redis.client_list())

    assert broker.warm_up(app) is True
    opened = len(redis.client_list())
    assert opened > alone  # the broker's connections, open before any task
    assert redis.keys("_kombu.binding.*")  # and the queue declared

    assert broker.send(app.tasks["warm_up.first_task"]) is True
    assert len(redis.client_list()) == opened
    assert redis.llen(QUEUE) == 1


def test_a_broker_that_does_not_answer_at_start_is_left_to_the_first_task(private_redis, monkeypatch):
    """One bounded try that does not mark the broker down: the first write still tries it."""
    monkeypatch.setattr(broker, "_down_until", 0.0)
    app = private_app(private_redis.url, "warm_up.task_after_a_frozen_start")
    private_redis.freeze()
    try:
        started = time.monotonic()
        assert broker.warm_up(app) is False
        assert time.monotonic() - started < 10  # generous for a loaded machine: no retry loop
        assert not broker.is_down()
    finally:
        private_redis.thaw()
    assert broker.send(app.tasks["warm_up.task_after_a_frozen_start"]) is True
    assert private_redis.client().llen(QUEUE) == 1
