"""Admin forms for flags and segments: create and edit them, turn a flag on or off, preview it.

The structured targeting editor has its own module, ``targeting_forms.py``.
"""

from __future__ import annotations

from typing import Any

from django import forms

from controlplane import jsonlimits
from controlplane.admin_forms import KeyListField, PrettyJSONField, ReasonField, ServiceModelForm
from controlplane.flags import services
from controlplane.flags.models import Flag, Segment
from controlplane.projects.models import Environment

# --- flags and segments ------------------------------------------------------------------------


class FlagForm(ServiceModelForm):
    variant_type = forms.ChoiceField(
        choices=[("", "(the kind's default)"), *Flag.VariantType.choices],
        required=False,
        help_text="Boolean flags have boolean variants; multivariate flags default to string.",
    )
    variants = PrettyJSONField(
        required=False,
        help_text='Ordered list of {"key": ..., "value": ...}. Leave empty for a boolean flag (on/off).',
    )
    off_variant = forms.CharField(
        required=False, help_text='Served when the flag is off. Empty: "off", or the first variant.'
    )
    metadata = PrettyJSONField(
        required=False,
        help_text='Returned to OpenFeature as flag metadata, e.g. {"team": "payments", "ticket": 123, "beta": true}.',
    )

    class Meta:
        model = Flag
        fields = [
            "project",
            "key",
            "name",
            "description",
            "tags",
            "owner",
            "kind",
            "variant_type",
            "variants",
            "off_variant",
            "salt",
            "metadata",
            "client_side",
        ]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].required = False
            self.fields["name"].help_text = "Empty: the key."


class SegmentForm(ServiceModelForm):
    included = KeyListField(help_text="Context keys always in the segment; one per line.")
    excluded = KeyListField(help_text="Context keys never in the segment (unless included); one per line.")
    rules = PrettyJSONField(
        required=False,
        help_text='[{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}, ...]: '
        "a context is in the segment if any rule matches (all of its clauses).",
    )

    class Meta:
        model = Segment
        fields = ["project", "key", "name", "description", "included", "excluded", "rules"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].required = False


def require_reason_in(form: forms.Form, environments: list[Environment]) -> None:
    """Make the form's reason required when one of ``environments`` requires a reason for changes."""
    strict = [environment for environment in environments if environment.require_reason]
    if strict:
        field = form.fields["reason"]
        field.required = True
        field.error_messages["required"] = services.reason_required_message(strict[0])
        field.help_text = f"Required in {strict[0].name}. {field.help_text}"


class ToggleForm(forms.Form):
    on = forms.BooleanField(required=False, widget=forms.HiddenInput)
    reason = ReasonField(rows=3, cols=70, help_text="Why? Recorded in the audit log with your name.")

    def __init__(self, *args: Any, environment: Environment, **kwargs: Any):
        super().__init__(*args, **kwargs)
        require_reason_in(self, [environment])


class PreviewForm(forms.Form):
    environment = forms.ChoiceField()
    context = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 70, "class": "vLargeTextField"}),
        initial='{\n  "key": "user-42",\n  "plan": "pro"\n}',
        help_text='A JSON object like {"key": "user-42", "country": "DE"}, or just a key.',
    )

    def __init__(self, *args: Any, environments: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [(key, key) for key in environments]

    def clean_context(self) -> dict[str, Any]:
        text = self.cleaned_data["context"].strip()
        try:
            context = jsonlimits.loads(text)
        except ValueError as exc:
            if text.startswith(("{", "[", '"')):
                raise forms.ValidationError(f"Not valid JSON: {exc}.") from exc
            context = text  # a bare key
        if isinstance(context, str):
            context = {"key": context}
        if not isinstance(context, dict):
            raise forms.ValidationError('A context is an object like {"key": "user-42"} or a key.')
        return context


class BulkToggleForm(forms.Form):
    """The confirmation of the "turn on/off in an environment" admin actions."""

    environment = forms.ChoiceField(help_text="The same environment key in each selected flag's project.")
    reason = ReasonField(rows=3, cols=70, help_text="Why? Recorded in the audit log with your name.")

    def __init__(self, *args: Any, environments: list[Environment], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.environments = environments
        self.fields["environment"].choices = [(key, key) for key in sorted({e.key for e in environments})]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        chosen = [environment for environment in self.environments if environment.key == data.get("environment")]
        strict = [environment for environment in chosen if environment.require_reason]
        if strict and not data.get("reason", "").strip():
            self.add_error("reason", services.reason_required_message(strict[0]))
        return data
