"""The stored half of a secret shown once (``controlplane.secrets``): what API tokens, SDK keys
and client-side keys have in common, as one abstract model, and how one is revoked."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from controlplane.audit.services import Actor, record


class Credential(models.Model):
    """A secret issued once: its name, the prefix lists show, the digest that finds it, its dates."""

    name = models.CharField(max_length=200)
    display_prefix = models.CharField(max_length=32, help_text="The first characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self, actor: Actor, action: str, reason: str = "", **filed_under: Any) -> bool:
        """Revoke it now with its audit entry ``action`` (``filed_under``: the project and
        environment the entry is filed under), unless it already is; say whether it was revoked now.

        Call it on the row read ``select_for_update`` in the caller's transaction: of two
        revocations at once, the second finds it revoked and writes no entry."""
        if not self.is_active:
            return False
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        record(actor, action, self, before={"revoked": False}, after={"revoked": True}, reason=reason, **filed_under)
        return True
