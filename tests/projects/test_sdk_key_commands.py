"""Operators issue, list and revoke SDK keys with manage.py; each write lands in the audit log."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from controlplane.audit.models import AuditEntry
from controlplane.projects import sdk_keys
from controlplane.projects.models import SdkKey


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def test_an_issued_sdk_key_reads_its_environment_until_it_is_revoked(project, django_capture_on_commit_callbacks):
    key, details = run("issue_sdk_key", "shop", "production", "--name", "checkout-service", "--reason", "new service")
    assert key.startswith("fp_srv_") and "for shop/production" in details
    assert sdk_keys.authenticate(key).environment == "production"

    issued = SdkKey.objects.get(name="checkout-service")
    assert f"{issued.display_prefix}…  shop/production" in run("list_sdk_keys", "shop")[0]
    assert run("list_sdk_keys", "shop", "development")[0] == ""

    with django_capture_on_commit_callbacks(execute=True):  # the revocation reaches the serving path on commit
        assert run("revoke_sdk_key", issued.display_prefix, "--reason", "leaked")[0].startswith("Revoked SDK key")
    assert sdk_keys.authenticate(key) is None
    entries = AuditEntry.objects.filter(object_type="sdkkey").order_by("id")
    assert [(e.action, e.reason) for e in entries] == [("sdk_key.issue", "new service"), ("sdk_key.revoke", "leaked")]
    assert all(entry.actor.startswith("manage.py ") for entry in entries)


def test_an_unknown_project_or_environment_is_named(project):
    with pytest.raises(CommandError, match=r"No project 'shops' \(projects: shop\)"):
        run("issue_sdk_key", "shops", "production", "--name", "x")
    with pytest.raises(CommandError, match=r"has no environment 'prod' \(it has: development, production\)"):
        run("issue_sdk_key", "shop", "prod", "--name", "x")
