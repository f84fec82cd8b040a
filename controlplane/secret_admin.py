"""The admin of a secret shown once (API tokens, SDK keys; see ``controlplane.secrets``).

A secret is issued through its domain function (the add form), its plaintext is shown on the page
that answers the form and kept nowhere (not in the database, the session or a message cookie), it
is listed by its prefix, and it is revoked; it is never edited or deleted (the audit log refers
to it).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.template.response import TemplateResponse

from controlplane.admin_pages import page_context
from controlplane.audit.services import Actor
from controlplane.service_admin import ServiceAdmin


class IssuedSecretAdmin(ServiceAdmin, admin.ModelAdmin):
    add_fields: list[str]
    """The add form's fields (``issue`` issues the secret from them)."""
    actions = ["revoke"]

    def issue(self, form, actor: Actor, reason: str) -> tuple[models.Model, str]:
        """Issue the secret through its domain function; return it and its plaintext."""
        raise NotImplementedError

    def write(self, form, actor: Actor, reason: str) -> models.Model:
        issued, plaintext = self.issue(form, actor, reason)
        issued.plaintext = plaintext  # for the page that answers the form; never stored
        return issued

    def secret_name(self, issued) -> str:
        """How the "issued" page names the secret, e.g. "SDK key for shop/production"."""
        raise NotImplementedError

    def revoke_one(self, issued, actor: Actor) -> None:
        raise NotImplementedError

    def may_revoke(self, request, issued) -> bool:
        """Whether the person may revoke this one (``has_revoke_permission`` says: some)."""
        return True

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.readonly_fields  # never the digest

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.display(description="Status")
    def status(self, issued) -> str:
        return "active" if issued.is_active else f"revoked {issued.revoked_at:%Y-%m-%d %H:%M}"

    def response_add(self, request, obj, post_url_continue=None):
        title = f"{self.opts.verbose_name} {obj.name} issued"
        context = page_context(
            self, request, title, here="Issued", secret_name=self.secret_name(obj), plaintext=obj.plaintext, issued=obj
        )
        return TemplateResponse(request, "admin/secret_issued.html", context)

    @admin.action(description="Revoke selected %(verbose_name_plural)s", permissions=["revoke"])
    def revoke(self, request, queryset):
        actor = Actor.for_user(request.user)
        active = [issued for issued in queryset if issued.is_active and self.may_revoke(request, issued)]
        for issued in active:
            self.revoke_one(issued, actor)
        self.message_user(request, f"Revoked {len(active)} {self.opts.verbose_name}(s).", messages.SUCCESS)
