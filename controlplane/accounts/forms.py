"""Admin form to issue an API token (the admin issues it through accounts.services)."""

from __future__ import annotations

from controlplane.accounts.models import ApiToken
from controlplane.admin_forms import ServiceModelForm


class ApiTokenForm(ServiceModelForm):
    """Issue a token (its plaintext is shown once, never stored)."""

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scope", "project"]
        help_texts = {
            "user": "The token acts as this person, with this person's roles (the audit log names both).",
            "name": "What uses it, e.g. ci-deploy.",
            "scope": "Read: reads only. Read and write: whatever the person's roles allow.",
            "project": "Empty: every project the person has a role in. Otherwise this one only.",
        }
