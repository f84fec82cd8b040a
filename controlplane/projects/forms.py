"""Admin forms for projects, environments and SDK keys; each saves through projects.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import validate_slug

from controlplane.audit.forms import AuditedModelForm, parse_keys
from controlplane.audit.services import Actor
from controlplane.errors import FieldErrors
from controlplane.projects import services
from controlplane.projects.errors import DuplicateKey
from controlplane.projects.models import ClientKey, Environment, Project, SdkKey


class ProjectForm(AuditedModelForm):
    environments = forms.CharField(
        required=False,
        initial="development, production",
        help_text="Environments to create, in order (comma-separated). More can be added later.",
    )

    domain_errors = (DuplicateKey,)

    class Meta:
        model = Project
        fields = ["key", "name", "description"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].required = False
        if self.instance.pk is not None:
            del self.fields["environments"]

    def clean_environments(self) -> list[str]:
        keys = parse_keys(self.cleaned_data["environments"])
        for key in keys:
            validate_slug(key)
        return keys

    def apply(self, actor: Actor, reason: str) -> Project:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.create_project(
                actor,
                key=data["key"],
                name=data["name"],
                description=data["description"],
                environments=data["environments"],
                reason=reason,
            )
        changes = {"name": data["name"] or self.instance.key, "description": data["description"]}
        return services.update_project(self.instance, actor, changes, reason)


class EnvironmentForm(AuditedModelForm):
    client_side_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        label="Client-side origins",
        help_text="One web origin per line (https://app.example.com): pages there may call OFREP with this "
        "environment's client-side keys. Empty: no browser may.",
    )

    domain_errors = (FieldErrors,)

    class Meta:
        model = Environment
        fields = ["project", "key", "name", "position", "require_reason"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].required = False
            self.fields["name"].help_text = "Empty: the key, capitalised."
        if self.instance.pk is None and "position" in self.fields:
            self.fields["position"].required = False
            self.fields["position"].initial = None
            self.fields["position"].help_text = "Order in lists; empty: after the others."
        if self.instance.pk is None and "require_reason" in self.fields:
            # Unticked by default on the form; production gets it unless someone says otherwise.
            self.fields["require_reason"] = forms.NullBooleanField(
                required=False,
                label="Require reason",
                widget=forms.Select(
                    choices=[("unknown", "Default (yes for production)"), ("true", "Yes"), ("false", "No")]
                ),
                help_text=self.fields["require_reason"].help_text,
            )
        if self.instance.pk is None:
            del self.fields["client_side_origins"]
        else:
            self.initial["client_side_origins"] = "\n".join(self.instance.client_side_origins)

    def clean_client_side_origins(self) -> list[str]:
        return parse_keys(self.cleaned_data["client_side_origins"])

    def apply(self, actor: Actor, reason: str) -> Environment:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.create_environment(
                data["project"],
                actor,
                key=data["key"],
                name=data["name"],
                position=data["position"],
                require_reason=data.get("require_reason"),
                reason=reason,
            )
        changes = {
            "name": data["name"] or self.instance.key.capitalize(),
            "position": data["position"],
            "require_reason": data["require_reason"],
            "client_side_origins": data["client_side_origins"],
        }
        return services.update_environment(self.instance, actor, changes, reason)


class SdkKeyForm(AuditedModelForm):
    """Issue a key. The plaintext is kept on the form's instance for one response, never stored."""

    class Meta:
        model = SdkKey
        fields = ["environment", "name"]
        help_texts = {"name": "Who uses it, e.g. checkout-service."}

    def apply(self, actor: Actor, reason: str) -> SdkKey:
        sdk_key, plaintext = services.issue_sdk_key(
            self.cleaned_data["environment"], actor, self.cleaned_data["name"], reason
        )
        sdk_key.plaintext = plaintext
        return sdk_key


class ClientKeyForm(AuditedModelForm):
    """Issue a client-side key; the plaintext is kept on the instance for one response only."""

    class Meta:
        model = ClientKey
        fields = ["environment", "name", "client_side_flags_only"]
        help_texts = {"name": "Where it is used, e.g. storefront-web."}

    def apply(self, actor: Actor, reason: str) -> ClientKey:
        data = self.cleaned_data
        client_key, plaintext = services.issue_client_key(
            data["environment"],
            actor,
            data["name"],
            client_side_flags_only=data["client_side_flags_only"],
            reason=reason,
        )
        client_key.plaintext = plaintext
        return client_key
