"""Admin pages carry a Content-Security-Policy and the framing and sniffing headers; HTTPS settings
come from the environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.settings.env import env_bool

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_admin_pages_carry_a_content_security_policy(admin_client, client):
    for response in (client.get("/admin/login/"), admin_client.get("/admin/flags/flag/")):
        assert response.status_code == 200
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'"  # no inline scripts
        assert policy["default-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


def deploy_check(**environment: str) -> str:
    settings = {"SECRET_KEY": "x" * 60, "DJANGO_SETTINGS_MODULE": "controlplane.settings.base"}
    env = {**os.environ, **settings, **environment}
    command = [sys.executable, "manage.py", "check", "--deploy"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


def test_the_readmes_https_settings_satisfy_djangos_deploy_check():
    https = {
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "SECURE_SSL_REDIRECT": "true",
        "SESSION_COOKIE_SECURE": "true",
        "CSRF_COOKIE_SECURE": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "ALLOWED_HOSTS": "flags.example.com",
    }
    report = deploy_check(**https)
    for warning in ("W004", "W008", "W012", "W016"):  # HSTS, redirect, session and CSRF cookies
        assert f"security.{warning}" not in report
    default = deploy_check()
    assert all(f"security.{warning}" in default for warning in ("W004", "W008", "W012", "W016"))


def test_a_boolean_setting_that_is_not_true_or_false_is_an_error(monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "ture")
    with pytest.raises(ValueError, match="SESSION_COOKIE_SECURE must be true or false"):
        env_bool("SESSION_COOKIE_SECURE")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "Yes")
    assert env_bool("SESSION_COOKIE_SECURE") is True
