"""A worker killed in the middle of a tick leaves the plan as it was; the next tick carries on.

A real Celery worker process evaluates a plan whose stage calls an external check; the check
hangs, so the worker is inside the tick's transaction, holding the plan's row lock, when it is
killed with SIGKILL. PostgreSQL rolls the transaction back; nothing half-done remains.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import DatabaseError, connection, transaction

from controlplane.rollouts import services
from controlplane.rollouts.models import Decision, RolloutPlan
from controlplane.rollouts.tasks import evaluate_plan
from tests.rollouts.conftest import act, create_plan, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


class HangingCheck:
    """An external check that hangs until released, then answers 200."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.release = threading.Event()
        check = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                check.requested.set()
                check.release.wait(60)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/confirm"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def database_url(database: dict) -> str:
    """The URL of the test database, for a worker process started outside pytest."""
    credentials = quote(database["USER"]) + (f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"


def plan_is_locked(plan_id: int) -> bool:
    try:
        with transaction.atomic():
            RolloutPlan.objects.select_for_update(nowait=True).get(pk=plan_id)
        return False
    except DatabaseError:
        return True


def test_worker_killed_mid_tick_leaves_a_consistent_plan(api, checkout_flag):
    check = HangingCheck()
    stages = [{"percent": 5, "min_dwell_s": 1, "external_check_url": check.url}, {"percent": 50, "min_dwell_s": 60}]
    plan = create_plan(api, stages, rules=[])
    act(api, plan["id"], "start")
    time.sleep(1.1)  # the dwell is over: the next tick calls the external check

    queue = f"kill-test-{os.getpid()}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": evaluate_plan.app.conf.broker_url,
        "CELERY_QUEUE": queue,
        "ROLLOUTS_EXTERNAL_CHECK_TIMEOUT_S": "60",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controlplane",
            "worker",
            "-Q",
            queue,
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=environment,
        start_new_session=True,
    )
    try:
        evaluate_plan.apply_async(args=[plan["id"]], queue=queue)
        assert check.requested.wait(30), "the worker never reached the external check"
        assert plan_is_locked(plan["id"])
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        wait_for(lambda: not plan_is_locked(plan["id"]), timeout=15)

        current = RolloutPlan.objects.get(pk=plan["id"])
        assert (current.status, current.stage_index, current.percent) == ("running", 0, 5)
        assert not Decision.objects.filter(plan_id=plan["id"], action="advance").exists()

        check.release.set()
        services.evaluate(plan["id"])  # the next tick; the check now answers at once
        current.refresh_from_db()
        assert (current.status, current.stage_index) == ("running", 1)
        assert Decision.objects.filter(plan_id=plan["id"], action="advance").count() == 1
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        check.close()
