"""What SDKs are served, per environment, and what is still to be published.

PostgreSQL is the source of truth. Each flag and segment of an environment is kept as a
*fragment*: its entry of the SDK document, serialised once. The published document is the
fragments put together (``documents.assembly``), so publishing one changed flag costs one
flag, not the environment. ``EnvironmentDocument`` is the header of what is published (its
version and ETag); a ``PendingChange`` row, written in the transaction of the change itself,
says that the published document is behind until a build has taken it into account.
Redis holds a copy of the assembled document for the serving path (``documents.cache``).
"""

from django.db import models
from django.utils import timezone

from controlplane.projects.models import Environment


class EnvironmentDocument(models.Model):
    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, related_name="document")
    version = models.PositiveIntegerField(default=0, help_text="Increases whenever the content changes.")
    etag = models.CharField(max_length=80)
    built_at = models.DateTimeField(help_text="When this version was published.")
    content_digest = models.CharField(
        max_length=64, help_text="Digest of the fragments (an XOR of their hashes), without the version."
    )
    build_ms = models.FloatField(default=0, help_text="Time the build of this version took.")
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes of the assembled JSON document.")

    class Meta:
        verbose_name = "published SDK document"

    def __str__(self) -> str:
        return f"{self.environment} v{self.version}"


class Fragment(models.Model):
    """One flag's or segment's entry in an environment's SDK document, as canonical JSON."""

    class Kind(models.TextChoices):
        FLAG = "flag", "Flag"
        SEGMENT = "segment", "Segment"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(
        max_length=128, db_collation="C", help_text="Ordered by code point, as Python sorts (documents.layout)."
    )
    body = models.TextField()
    digest = models.CharField(max_length=64, help_text="SHA-256 of the body.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["environment", "kind", "key"], name="unique_fragment")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class PendingChange(models.Model):
    """A committed change the published document of its environment does not include yet.

    Written by the change's own transaction; deleted by the build that publishes it. A kind of
    ``all`` asks for every fragment to be rebuilt (a new environment, say).
    """

    class Kind(models.TextChoices):
        FLAG = "flag", "Flag"
        SEGMENT = "segment", "Segment"
        ALL = "all", "Everything"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["environment", "id"], name="pending_change_by_environment")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}".strip()
