"""Projects, their environments, the server-side SDK keys that read one environment's document,
and the client-side keys that may only evaluate flags of one environment through OFREP."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import validate_slug
from django.db import models

from controlplane.secret_models import Credential


class Project(models.Model):
    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name or self.key


class Environment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    key = models.CharField(max_length=64, validators=[validate_slug])
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0, help_text="Order in lists (development first).")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="Names its cached document.")
    require_reason = models.BooleanField(
        default=False,
        help_text="Every change to a flag's state here (on/off, targeting) must say why. On for production by default.",
    )
    client_side_origins = ArrayField(
        models.CharField(max_length=253),
        default=list,
        blank=True,
        help_text="Web origins (https://app.example.com) whose pages may call OFREP with this environment's "
        "client-side keys (CORS).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__key", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="unique_environment_key"),
        ]

    def __str__(self) -> str:
        return f"{self.project.key}/{self.key}"


class IssuedKey(Credential):
    """A credential bound to one environment, shown once and stored as a digest."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(Credential.Meta):
        abstract = True


class SdkKey(IssuedKey):
    """A server-side SDK key: reads exactly one environment's document and posts its metrics."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="sdk_keys")

    class Meta(IssuedKey.Meta):
        verbose_name = "SDK key"


class ClientKey(IssuedKey):
    """A client-side key (fp_cli_…), safe to ship in a web page: it evaluates flags of one
    environment through OFREP and nothing else (never the SDK document, never metrics)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="client_keys")
    client_side_flags_only = models.BooleanField(
        default=True,
        help_text='Evaluate only the flags marked "available to client-side"; others are not found.',
    )

    class Meta(IssuedKey.Meta):
        verbose_name = "client-side key"
