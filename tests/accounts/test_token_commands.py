"""Operators issue, list and revoke API tokens with manage.py; each write lands in the audit log."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from controlplane.accounts.models import ApiToken
from controlplane.audit.models import AuditEntry


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def api_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_an_issued_token_works_until_it_is_revoked(admin_user, project):
    token, details = run("issue_api_token", "alice", "--name", "deploy", "--scope", "write", "--reason", "CI")
    assert re.fullmatch(r"fp_api_\S+", token)  # stdout is the token alone: TOKEN=$(manage.py issue_api_token ...)
    assert "Issued write token" in details and "'deploy' for alice" in details
    assert api_with(token).post("/api/v1/projects/shop/flags/", {"key": "from-ci"}, format="json").status_code == 201

    issued = ApiToken.objects.get(name="deploy")
    listed, _ = run("list_api_tokens", "--user", "alice")
    assert f"{issued.display_prefix}…  write  alice" in listed

    revoked, _ = run("revoke_api_token", issued.display_prefix, "--reason", "rotated")
    assert revoked == f"Revoked API token {issued.pk} ({issued.display_prefix}…) 'deploy' of alice."
    assert api_with(token).get("/api/v1/projects/").status_code == 401
    assert issued.display_prefix not in run("list_api_tokens")[0]
    assert issued.display_prefix in run("list_api_tokens", "--all")[0]

    entries = AuditEntry.objects.filter(object_type="apitoken").order_by("id")
    assert [(e.action, e.reason) for e in entries] == [("api_token.issue", "CI"), ("api_token.revoke", "rotated")]
    assert entries[0].actor.startswith("manage.py issue_api_token (")
    assert entries[1].actor.startswith("manage.py revoke_api_token (")


def test_a_token_is_found_by_id_or_whole_secret_and_an_unknown_one_is_explained(admin_user):
    token, _ = run("issue_api_token", "alice", "--name", "reader")
    issued = ApiToken.objects.get(name="reader")
    assert issued.scope == "read"
    assert run("revoke_api_token", token)[0].startswith(f"Revoked API token {issued.pk} ")
    assert run("revoke_api_token", str(issued.pk))[0].endswith("was already revoked.")
    with pytest.raises(CommandError, match="No API token 'fp_api_nope'"):
        run("revoke_api_token", "fp_api_nope")
    with pytest.raises(CommandError, match="No user 'bob'"):
        run("issue_api_token", "bob", "--name", "x")
