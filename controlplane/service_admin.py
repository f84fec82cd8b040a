"""The one way the admin writes: its form only validates, then the admin calls one domain function.

Django's add/change page asks ``form.is_valid()`` and then ``save_model``. A ``ServiceAdmin``'s
``save_model`` calls ``write`` (the domain function: ``create_flag``, ``update_project``, ...) once,
with the person as the actor and the form's reason. The domain function is also the validation of
what only it can check (a duplicate key, a rule SDKs could not evaluate); when it refuses with
``FieldErrors``, nothing is saved and the page is shown again with each message next to its field.

Django's page has no step between "valid" and "saved" that can still show the form, so a refusal
leaves the page's transaction and the page is drawn once more: its form validates the same input
again (it writes nothing) and then adds the refusal's messages.

The admin's own pages (a flag's targeting and on/off confirmation, a rollout plan's editor and
actions) have the same shape without Django's page: the view validates with a form, calls the
domain function once and puts its ``FieldErrors`` on the form.
"""

from __future__ import annotations

from django.db import models

from controlplane.admin_forms import ServiceModelForm, add_field_errors
from controlplane.audit.services import Actor
from controlplane.errors import FieldErrors


class ServiceAdmin:
    """For ModelAdmins whose form is a ``ServiceModelForm``; ``write`` calls the domain function."""

    def write(self, form: ServiceModelForm, actor: Actor, reason: str) -> models.Model:
        """Create or update through the domain function (``form.instance.pk`` is None when adding),
        from ``form.cleaned_data``; return the saved object."""
        raise NotImplementedError

    def save_model(self, request, obj, form, change) -> None:
        # A refusal (FieldErrors) leaves the page's transaction; changeform_view draws the page again.
        saved = self.write(form, Actor.for_user(request.user), form.cleaned_data.get("reason", ""))
        # Django goes on with ``obj`` (its log entry, the redirect, the page that answers "add").
        obj.__dict__.update(saved.__dict__)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except FieldErrors as refused:  # raised only by ``write``: nothing else on the page calls a domain function
            request.refused_errors = refused.errors  # read by get_form, for this request only
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_queryset(self, request, queryset) -> None:
        """The list's "delete selected": each one the person may delete, through ``delete_model``
        (which calls the domain function)."""
        for obj in queryset:
            if self.has_delete_permission(request, obj):
                self.delete_model(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        errors = getattr(request, "refused_errors", None)
        if errors is None:
            return form
        return type(form.__name__, (form,), {"_post_clean": _adding_errors(form._post_clean, errors)})


def _adding_errors(post_clean, errors: dict[str, list[str]]):
    def _post_clean(form) -> None:
        post_clean(form)
        add_field_errors(form, errors)

    return _post_clean
