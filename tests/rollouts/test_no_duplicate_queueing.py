"""A tick never queues a plan whose previous evaluation is still queued or running.

A real Celery worker takes the plan's evaluation, which reads an HTTP health source that answers
only when the test lets it. While it waits, beat's next ticks come and go: they queue nothing,
and the source is read once. Once the evaluation is done, the next tick queues the plan again.
"""

import threading

import pytest

from controlplane.rollouts import queued
from controlplane.rollouts.tasks import tick
from tests.helpers import wait_for, wait_until_worker_idle, worker_is_idle
from tests.http_server import Request, Response, serve
from tests.rollouts.helpers import act, create_plan, plan_status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class HeldSource:
    """An HTTP health source that answers an error rate of 0 once ``answer`` is set; counts its reads."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.reads = 0
        self.server = serve(self.read)
        self.url = self.server.url("/error-rate")

    def read(self, request: Request) -> Response:
        self.reads += 1
        self.answer.wait(60)
        return Response.json({"value": 0})

    def rule(self) -> dict:
        return {"key": "apm", "metric": "error_rate", "comparison": "absolute_threshold", "threshold": 0.05,
                "source": "http", "source_url": self.url, "source_json_path": "value"}  # fmt: skip


@pytest.fixture
def held_source():
    source = HeldSource()
    yield source
    source.answer.set()
    source.server.close()


@pytest.fixture
def started_plan(celery_worker, api, checkout_flag, held_source) -> int:
    plan = create_plan(api, [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}],
                       rules=[held_source.rule()])  # fmt: skip
    act(api, plan["id"], "start")  # a person's action queues an evaluation of its own
    held_source.answer.set()
    wait_until_worker_idle()
    held_source.answer.clear()
    held_source.reads = 0
    return plan["id"]


def test_a_tick_does_not_queue_a_plan_whose_evaluation_is_still_running(started_plan, held_source):
    assert tick() == 1
    wait_for(lambda: held_source.reads == 1)  # the worker is evaluating, waiting for the source

    assert tick() == 0
    assert tick() == 0
    assert worker_is_idle() is False  # the one evaluation still runs; nothing else is queued behind it

    held_source.answer.set()
    wait_until_worker_idle()
    assert held_source.reads == 1
    assert plan_status(started_plan).waiting_on == "dwell"


def test_the_next_tick_queues_the_plan_again_once_its_evaluation_is_done(started_plan, held_source):
    held_source.answer.set()
    assert tick() == 1
    wait_until_worker_idle()
    assert tick() == 1
    wait_until_worker_idle()
    assert held_source.reads == 2


def test_a_claim_nobody_releases_expires_after_a_few_ticks(started_plan, settings):
    from controlplane.documents import cache

    assert queued.claim([started_plan], "lost") == [started_plan]
    assert tick() == 0
    ttl = cache.client().ttl(queued.key(started_plan))
    assert 0 < ttl <= queued.EXPIRY_TICKS * settings.ROLLOUTS_TICK_SECONDS


def test_an_evaluation_releases_only_its_own_claim(started_plan):
    assert queued.claim([started_plan], "newer") == [started_plan]
    queued.release([started_plan], "older")
    assert queued.claim([started_plan], "another") == []
    queued.release([started_plan], "newer")
    assert queued.claim([started_plan], "another") == [started_plan]
