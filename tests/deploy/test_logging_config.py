"""deploy/logging.json (the web server's --log-config) is the LOGGING setting for JSON lines."""

import json

from controlplane.observability.logs import logging_config
from tests.helpers import ROOT


def test_the_web_servers_log_config_is_the_json_logging_setting():
    assert json.loads((ROOT / "deploy" / "logging.json").read_text()) == logging_config("json", "INFO", servers=True)
