"""What a web process does as it starts, before it serves anything (controlplane/asgi.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.edge.helpers import ROOT, server_environment

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

REPORT = """
import gc
import controlplane.asgi
from controlplane.celery import app
print(gc.get_freeze_count(), len(gc.get_objects()), app.finalized)
"""


def test_a_web_process_starts_finalized_with_its_startup_objects_out_of_the_collectors_way():
    """Full collections walk only what the process builds while it serves (its streams), not
    the ~100,000 objects of Django and the apps; the Celery app is ready for the first write."""
    output = subprocess.run(
        [sys.executable, "-c", REPORT], cwd=ROOT, env=server_environment(), capture_output=True, text=True, timeout=120
    )
    assert output.returncode == 0, output.stderr
    frozen, collected, finalized = output.stdout.split()[-3:]
    assert int(frozen) > 10 * int(collected)
    assert finalized == "True"
