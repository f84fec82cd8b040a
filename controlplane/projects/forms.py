"""Admin forms for projects, environments and SDK keys; the admin saves each through projects.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import validate_slug

from controlplane.admin_forms import ServiceModelForm, parse_keys
from controlplane.projects.models import ClientKey, Environment, Project, SdkKey


class ProjectForm(ServiceModelForm):
    environments = forms.CharField(
        required=False,
        initial="development, production",
        help_text="Environments to create, in order (comma-separated). More can be added later.",
    )

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


class EnvironmentForm(ServiceModelForm):
    client_side_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        label="Client-side origins",
        help_text="One web origin per line (https://app.example.com): pages there may call OFREP with this "
        "environment's client-side keys. Empty: no browser may.",
    )

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


class SdkKeyForm(ServiceModelForm):
    """Issue a key (its plaintext is shown once, never stored)."""

    class Meta:
        model = SdkKey
        fields = ["environment", "name"]
        help_texts = {"name": "Who uses it, e.g. checkout-service."}


class ClientKeyForm(ServiceModelForm):
    """Issue a client-side key (its plaintext is shown once, never stored)."""

    class Meta:
        model = ClientKey
        fields = ["environment", "name", "client_side_flags_only"]
        help_texts = {"name": "Where it is used, e.g. storefront-web."}
