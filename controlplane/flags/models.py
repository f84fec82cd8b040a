"""Flags, their per-environment state, and segments.

Targeting (targets, rules, default serve) is stored as JSON in exactly the shape of the SDK
document (docs/sdk-document.md), so what is validated here is what the SDK evaluates.
Writes go through ``controlplane.flags.services``; nothing here has side effects.
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from controlplane.projects.models import Environment, Project


class Flag(models.Model):
    class Kind(models.TextChoices):
        BOOLEAN = "boolean", "Boolean"
        MULTIVARIATE = "multivariate", "Multivariate"

    class VariantType(models.TextChoices):
        BOOLEAN = "boolean", "Boolean"
        STRING = "string", "String"
        NUMBER = "number", "Number"
        JSON = "json", "JSON"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="flags")
    key = models.SlugField(max_length=128, help_text="Used in code; cannot change once created.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    owner = models.CharField(max_length=200, blank=True, help_text="Team or person responsible.")
    archived = models.BooleanField(default=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BOOLEAN)
    variant_type = models.CharField(max_length=16, choices=VariantType.choices, default=VariantType.BOOLEAN)
    variants = models.JSONField(default=list, help_text='Ordered [{"key": ..., "value": ...}].')
    off_variant = models.CharField(max_length=128, default="off")
    salt = models.CharField(max_length=128, blank=True, help_text="Bucketing salt; empty means the flag key.")
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text='Returned to OpenFeature as flag_metadata: {"name": string, number or boolean}.',
    )
    client_side = models.BooleanField(
        default=False,
        verbose_name="available to client-side",
        help_text="Client-side keys (fp_cli_…, for web pages) may evaluate it through OFREP.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # By the project's id, not its key: no join, and the unique (project, key) index walks
        # a page in order (50,000 flags).
        ordering = ["project_id", "key"]
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="unique_flag_key")]
        indexes = [GinIndex(fields=["tags"], name="flag_tags")]  # the tag filter and its counts

    def __str__(self) -> str:
        return self.key

    @property
    def effective_salt(self) -> str:
        return self.salt or self.key

    def variant_keys(self) -> list[str]:
        return [variant["key"] for variant in self.variants]


class FlagState(models.Model):
    """A flag's targeting in one environment. ``version`` increases on every change."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="states")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="flag_states")
    on = models.BooleanField(default=False)
    targets = models.JSONField(default=list, blank=True)
    rules = models.JSONField(default=list, blank=True)
    default_serve = models.JSONField(default=dict)
    bucket_by = models.CharField(max_length=128, default="key")
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["flag__key", "environment__position"]
        constraints = [
            models.UniqueConstraint(fields=["flag", "environment"], name="unique_flag_state"),
        ]

    def __str__(self) -> str:
        return f"{self.flag.key} in {self.environment.key}"

    @property
    def etag(self) -> str:
        return f'"{self.pk}-{self.version}"'


class Segment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="segments")
    key = models.SlugField(max_length=128)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    included = models.JSONField(default=list, blank=True, help_text="Context keys always in the segment.")
    excluded = models.JSONField(default=list, blank=True, help_text="Context keys never in the segment.")
    rules = models.JSONField(default=list, blank=True, help_text='[{"clauses": [...]}], any rule matches.')
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project__key", "key"]
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="unique_segment_key")]

    def __str__(self) -> str:
        return self.key
