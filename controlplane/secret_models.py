"""The stored half of a secret shown once (``controlplane.secrets``): what API tokens, SDK keys
and client-side keys have in common, as one abstract model."""

from __future__ import annotations

from django.db import models


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
