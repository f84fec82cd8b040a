"""The built SDK document of each environment, kept in PostgreSQL (Redis holds a copy)."""

from django.db import models

from controlplane.projects.models import Environment


class EnvironmentDocument(models.Model):
    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, related_name="document")
    version = models.PositiveIntegerField(default=0)
    etag = models.CharField(max_length=80)
    body = models.TextField(help_text="The canonical JSON served to SDKs.")
    built_at = models.DateTimeField()
    content_digest = models.CharField(max_length=64, help_text="SHA-256 of the content without the version.")
    build_ms = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.environment} v{self.version}"
