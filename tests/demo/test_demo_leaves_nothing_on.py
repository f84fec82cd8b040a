"""`make demo` (demo/run_demo.py) leaves no flag serving anyone: its flag ends OFF in production, archived."""

from __future__ import annotations

import io
import json
import signal

import pytest
from django.core.management import call_command

from controlplane.audit.models import AuditEntry
from controlplane.flags.models import Flag, FlagState
from demo import run_demo

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def seeded_in_process(monkeypatch, settings, tmp_path):
    """seed_demo runs in this process (a subprocess would not see the test database)."""
    settings.DEMO_CREDENTIALS_FILE = tmp_path / ".demo-credentials.json"

    def seed(python: str) -> dict:
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        return json.loads(out.getvalue().strip().splitlines()[-1])

    monkeypatch.setattr(run_demo, "seed", seed)


@pytest.fixture
def own_signal_handlers():
    """The demo installs handlers for Ctrl-C and SIGTERM; give pytest its own back afterwards."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {sig: signal.getsignal(sig) for sig in signals}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_demo_run_turns_its_flag_off_in_production_and_archives_it(
    edge, celery_worker, seeded_in_process, own_signal_handlers
):
    argv = ["--no-stack", "--base-url", edge.url, "--timeout", "2", "--rps", "40", "--threads", "2"]
    assert run_demo.main([*argv, "--users", "50"]) == 3  # stopped by its timeout, with its plan running

    flag = Flag.objects.get(project__key="demo", key__startswith="checkout-v2-")
    state = FlagState.objects.get(flag=flag, environment__key="production")
    assert state.on is False
    assert flag.archived is True
    assert flag.rollout_plans.get().status == "cancelled"
    actions = AuditEntry.objects.filter(reason="make demo finished").values_list("action", flat=True)
    assert sorted(actions) == ["flag.archive", "flag.turn_off"]
