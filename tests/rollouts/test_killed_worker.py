"""A worker killed in the middle of a tick leaves the plan as it was; the next tick carries on.

A real Celery worker process takes a plan's tick: it decides to advance, writes the plan's new
stage, and then waits for the flag's state row, which the test holds locked. The worker is now
in the middle of the tick's transaction, with part of it written, when it is killed with
SIGKILL. PostgreSQL rolls the transaction back; nothing half-done remains.
"""

import os
import signal
import subprocess
import sys

import pytest
from django.db import connection, transaction

from controlplane.flags.models import FlagState
from controlplane.rollouts import services
from controlplane.rollouts.models import Decision, RolloutPlan
from controlplane.rollouts.tasks import evaluate_plan
from tests.helpers import ROOT, database_url, wait_for, wait_until_worker_idle
from tests.rollouts.helpers import act, create_plan

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sessions_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # statistics views are frozen within a transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def end_the_dwell(plan_id: int) -> None:
    plan = RolloutPlan.objects.get(pk=plan_id)
    plan.runtime = {**plan.runtime, "stage_started_at": plan.runtime["stage_started_at"] - 600}
    plan.save(update_fields=["runtime"])


def test_worker_killed_mid_tick_leaves_a_consistent_plan(celery_worker, api, checkout_flag):
    plan = create_plan(api, [{"percent": 5, "min_dwell_s": 600}, {"percent": 50, "min_dwell_s": 600}], rules=[])
    act(api, plan["id"], "start")
    wait_until_worker_idle()  # the start's own evaluation (a hold) is done: nobody else touches the plan
    end_the_dwell(plan["id"])  # the next tick advances

    queue = f"kill-test-{os.getpid()}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": evaluate_plan.app.conf.broker_url,
        "CELERY_QUEUE": queue,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controlplane", "worker", "-Q", queue, "--pool", "prefork",
         "--concurrency", "1", "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=environment, start_new_session=True,
    )  # fmt: skip
    try:
        with transaction.atomic():
            FlagState.objects.select_for_update().get(flag=checkout_flag, environment__key="production")
            evaluate_plan.apply_async(args=[plan["id"]], queue=queue)
            wait_for(lambda: sessions_waiting_for_a_lock() == 1, timeout=30)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        wait_for(lambda: sessions_waiting_for_a_lock() == 0, timeout=15)

        current = RolloutPlan.objects.get(pk=plan["id"])
        assert (current.status, current.stage_index, current.percent) == ("running", 0, 5)
        assert not Decision.objects.filter(plan_id=plan["id"], action="advance").exists()
        assert FlagState.objects.get(flag=checkout_flag, environment__key="production").default_serve["split"][0] == {
            "variant": "on",
            "weight": 5_000,
        }

        services.evaluate(plan["id"])  # the next tick
        current.refresh_from_db()
        assert (current.status, current.stage_index, current.percent) == ("running", 1, 50)
        assert Decision.objects.filter(plan_id=plan["id"], action="advance").count() == 1
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
