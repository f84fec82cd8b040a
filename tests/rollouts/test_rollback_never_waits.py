"""A person's rollback never waits for a tick that is reading a slow endpoint."""

import threading
import time

import pytest
from django.db import connection

from controlplane.audit.services import SYSTEM
from controlplane.rollouts import services
from controlplane.rollouts.models import RolloutPlan
from tests.http_server import Request, Response, serve
from tests.rollouts.helpers import act, create_plan

pytestmark = pytest.mark.django_db(transaction=True)


class SlowCheck:
    """An external check that takes 3 seconds to answer 200."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.server = serve(self.confirm)
        self.url = self.server.url("/confirm")

    def confirm(self, request: Request) -> Response:
        self.requested.set()
        time.sleep(3)
        return Response(200)


def test_rollback_during_a_slow_external_check_is_immediate_and_wins(api, checkout_flag):
    check = SlowCheck()
    stages = [{"percent": 5, "min_dwell_s": 1, "external_check_url": check.url}, {"percent": 50, "min_dwell_s": 60}]
    plan = create_plan(api, stages, rules=[])
    act(api, plan["id"], "start")
    time.sleep(1.1)
    results = []

    def tick():
        results.append(services.evaluate(plan["id"]))
        connection.close()

    ticking = threading.Thread(target=tick)
    ticking.start()
    assert check.requested.wait(5)
    started = time.monotonic()
    services.act(RolloutPlan.objects.get(pk=plan["id"]), "rollback", SYSTEM, "checkout errors")
    took = time.monotonic() - started
    ticking.join(10)
    check.server.close()

    assert took < 1.0, f"the rollback waited {took:.1f} s for the tick"
    assert results == [None]  # the tick saw that the plan changed under it and stood down
    current = RolloutPlan.objects.get(pk=plan["id"])
    assert (current.status, current.percent) == ("rolled_back", 0)
