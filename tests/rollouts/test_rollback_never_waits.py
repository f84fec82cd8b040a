"""A person's rollback never waits for a tick that is reading a slow endpoint."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from controlplane.audit.services import SYSTEM
from controlplane.rollouts import services
from controlplane.rollouts.models import RolloutPlan
from tests.rollouts.helpers import act, create_plan

pytestmark = pytest.mark.django_db(transaction=True)


class SlowCheck:
    """An external check that takes 3 seconds to answer 200."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        check = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                check.requested.set()
                time.sleep(3)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/confirm"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


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
    check.server.shutdown()

    assert took < 1.0, f"the rollback waited {took:.1f} s for the tick"
    assert results == [None]  # the tick saw that the plan changed under it and stood down
    current = RolloutPlan.objects.get(pk=plan["id"])
    assert (current.status, current.percent) == ("rolled_back", 0)
