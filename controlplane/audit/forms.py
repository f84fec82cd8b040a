"""Admin forms whose only write is one audited domain function.

Django's admin asks ``form.is_valid()`` to decide between "show the form again" and "saved", then
calls ``save_model``. The domain functions (``create_flag``, ``update_project``, ...) are also the
validation, so an ``AuditedModelForm`` calls its domain function as the last step of validation,
inside a savepoint: the function's errors show on the form's fields and nothing is half-saved.
Model validation (field validators, unique constraints) still runs first, on a copy of the instance;
``save_model`` has nothing left to do (see ``AuditedAdminMixin``).
"""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

from django import forms
from django.db import models, transaction

from controlplane import jsonlimits
from controlplane.audit.services import Actor


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
    keys: list[str] = []
    for line in (text or "").splitlines():
        for part in line.split(","):
            part = part.strip()
            if part and part not in keys:
                keys.append(part)
    return keys


class AuditedModelForm(forms.ModelForm):
    reason = ReasonField()

    actor: Actor | None = None  # set per request by AuditedAdminMixin.get_form
    domain_errors: ClassVar[tuple[type[Exception], ...]] = ()  # exceptions carrying .errors = {path: [messages]}

    def apply(self, actor: Actor, reason: str) -> models.Model:
        """Call the domain function; return the created or updated object."""
        raise NotImplementedError

    def _post_clean(self) -> None:
        # Model validation (field validators, unique constraints) runs on a copy: update functions
        # take their "before" snapshot from the instance they are given, so it must stay unchanged.
        original = self.instance
        self.instance = copy.copy(original)
        super()._post_clean()
        self.instance = original
        if self._errors:
            return
        assert self.actor is not None, "AuditedModelForm needs an actor (use AuditedAdminMixin)"
        try:
            with transaction.atomic():
                self.instance = self.apply(self.actor, self.cleaned_data.get("reason", ""))
        except self.domain_errors as exc:
            self.add_domain_errors(exc.errors)  # type: ignore[attr-defined]

    def add_domain_errors(self, errors: dict[str, list[str]]) -> None:
        for path, messages in errors.items():
            field = path.split(".")[0]
            for message in messages:
                if field in self.fields:
                    self.add_error(field, message if path == field else f"{path}: {message}")
                else:
                    self.add_error(None, f"{path}: {message}")


class AuditedAdminMixin:
    """For ModelAdmins whose form is an AuditedModelForm: hand it the actor; nothing left to save."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": Actor.for_user(request.user)})

    def save_model(self, request, obj, form, change) -> None:
        """The domain function already saved (and audited) it during validation."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk deletes would bypass the domain functions
        return actions
