"""Acceptance with clients nobody here wrote: @openfeature/server-sdk with @openfeature/ofrep-provider
(from the npm registry, tests/ofrep/js) under node, against a running control plane."""

import json
import os
import subprocess

import pytest

from tests.ofrep.helpers import make_world
from tests.ofrep.jsclients import JS, require_node_clients

pytestmark = pytest.mark.integration


@pytest.fixture
def details(transactional_db, live_server):
    node = require_node_clients()
    world = make_world()
    environment = {**os.environ, "BASE_URL": live_server.url, "KEY": world.client_key}
    finished = subprocess.run(
        [node, "node_client.mjs"], cwd=JS, env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_node_evaluates_boolean_string_number_and_object_flags(details):
    assert (details["banner-text"]["value"], details["banner-text"]["reason"]) == ("Hello", "STATIC")
    assert details["max-items"]["value"] == 25
    assert details["theme"]["value"] == {"dark": True, "n": 3}
    assert (details["new-checkout"]["value"], details["new-checkout"]["reason"]) == (False, "DEFAULT")
    assert details["new-checkout"]["flagMetadata"] == {"team": "payments"}


def test_node_evaluates_targeting(details):
    pro = details["new-checkout/pro"]
    assert (pro["value"], pro["variant"], pro["reason"]) == (True, "on", "TARGETING_MATCH")


def test_node_gets_the_callers_default_for_a_disabled_flag(details):
    # @openfeature/ofrep-provider 0.1.3 (ofrep-core 0.1.x) predates OFREP's codeDefaultFlag and
    # reports the value-less answer as an error; the value is still the caller's default.
    assert details["killed/true"]["value"] is True
    assert details["killed/false"]["value"] is False


def test_node_reports_missing_and_server_only_flags_as_not_found(details):
    for key in ("no-such-flag", "server-only"):
        assert (details[key]["value"], details[key]["errorCode"]) == (True, "FLAG_NOT_FOUND")
