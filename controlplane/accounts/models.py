"""API tokens: how people and automation authenticate to the REST API."""

from django.conf import settings
from django.db import models

from controlplane.secret_models import Credential


class ApiToken(Credential):
    """A REST API token (``fp_api_…``): it acts as its user, read-only or read-write."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the token acts in every project its user has a role in. Otherwise in this one only.",
    )

    class Meta(Credential.Meta):
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…, {self.scope})"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE and self.is_active
