"""Form fields and helpers every admin form may use: JSON and key-list inputs, the "reason" of a
change, and putting a domain function's ``FieldErrors`` next to the fields they name.

The one admin write pattern (``controlplane.service_admin``): a form only validates; the admin
then calls the domain function once, and its refusals come back here as form errors.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django import forms

from controlplane import jsonlimits


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows its value indented, so lists of objects stay readable."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 8, "cols": 90, "class": "vLargeTextField"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        """Like JSONField's, with nesting bounded (jsonlimits): a deep value is a field error, not a 500."""
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(
                f"Nested more than {jsonlimits.MAX_DEPTH} levels deep.", code="invalid"
            ) from None
        if jsonlimits.depth(converted) > jsonlimits.MAX_DEPTH:
            raise forms.ValidationError(f"Nested more than {jsonlimits.MAX_DEPTH} levels deep.", code="invalid")
        return converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            items = ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in value)
            return f"[\n{items}\n]"  # one variant (or rule) per line
        return json.dumps(value, indent=2, ensure_ascii=False)


class KeyListField(forms.CharField):
    """Context keys typed one per line (commas also separate); cleaned to a list without duplicates."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "One key per line (commas also separate).")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        return parse_keys(super().to_python(value))


class ReasonField(forms.CharField):
    """The optional "why" of a change, a few lines of text; it is stored with the audit entry."""

    def __init__(
        self, *, rows: int = 2, cols: int = 60, help_text: str = "Why? Recorded in the audit log.", **kwargs: Any
    ):
        attrs = {"rows": rows, "cols": cols, **kwargs.pop("attrs", {})}
        kwargs.setdefault("required", False)
        super().__init__(widget=forms.Textarea(attrs=attrs), help_text=help_text, **kwargs)


def parse_keys(text: str | None) -> list[str]:
    """``"a, b\\nc\\na"`` is ``["a", "b", "c"]``: one per line or comma, in order, without duplicates."""
    keys: list[str] = []
    for line in (text or "").splitlines():
        for part in line.split(","):
            part = part.strip()
            if part and part not in keys:
                keys.append(part)
    return keys


def add_field_errors(form: forms.BaseForm, errors: dict[str, list[str]]) -> None:
    """A domain function's ``FieldErrors.errors`` on ``form``: each message next to the field its
    dotted path starts with (the rest of the path in front of it), otherwise above the form."""
    for path, messages in errors.items():
        field = path.split(".")[0]
        for message in messages:
            if field in form.fields:
                form.add_error(field, message if path == field else f"{path}: {message}")
            else:
                form.add_error(None, f"{path}: {message}")


class ServiceModelForm(forms.ModelForm):
    """A ModelForm that only validates (see ``controlplane.service_admin``), with the change's reason.

    Model validation (field validators, unique constraints) runs on a copy of the instance: the
    domain functions take their "before" snapshot from the instance they are given, so the form
    leaves it as it was read.
    """

    reason = ReasonField()

    def _post_clean(self) -> None:
        original = self.instance
        self.instance = copy.copy(original)
        try:
            super()._post_clean()
        finally:
            self.instance = original
