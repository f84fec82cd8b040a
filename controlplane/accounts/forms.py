"""Admin form to issue an API token through accounts.services."""

from __future__ import annotations

from controlplane.accounts import services
from controlplane.accounts.errors import TokenRefused
from controlplane.accounts.models import ApiToken
from controlplane.audit.forms import AuditedModelForm
from controlplane.audit.services import Actor


class ApiTokenForm(AuditedModelForm):
    """Issue a token. The plaintext is kept on the form's instance for one response, never stored."""

    domain_errors = (TokenRefused,)

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scope", "project"]
        help_texts = {
            "user": "The token acts as this person, with this person's roles (the audit log names both).",
            "name": "What uses it, e.g. ci-deploy.",
            "scope": "Read: reads only. Read and write: whatever the person's roles allow.",
            "project": "Empty: every project the person has a role in. Otherwise this one only.",
        }

    def apply(self, actor: Actor, reason: str) -> ApiToken:
        data = self.cleaned_data
        token, plaintext = services.issue_api_token(
            data["user"], actor, name=data["name"], scope=data["scope"], project=data.get("project"), reason=reason
        )
        token.plaintext = plaintext
        return token
