"""The audit log: one append-only row per write, whoever made it.

Rows are never updated or deleted by the application; a database trigger (see the migration)
refuses UPDATE and DELETE so that not even a bug or a shell session can rewrite history.
"""

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models.functions import Upper

SEARCHED_FIELDS = ("actor", "object_repr", "object_id", "reason", "request_id")
SEARCH_VECTOR = SearchVector(*SEARCHED_FIELDS, config="simple")
"""An entry's words for the search (audit/search.py), lower-cased and not stemmed (keys and names
are not English): the expression of the ``audit_words`` index, which a query repeats exactly."""


class AuditEntry(models.Model):
    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=200, help_text='"alice", "token:ci-bot (fp_api_abc…)" or "rollout engine".')
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=64, help_text='e.g. "flag.turn_off" (every name: audit/actions.py).')
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    environment = models.ForeignKey(
        "projects.Environment",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [before, after]} for changed fields.")
    reason = models.TextField(blank=True)
    request_id = models.CharField(
        max_length=128,
        blank=True,
        db_default="",
        help_text="The request's X-Request-ID (of the write, or of what queued its task), as in the log lines; "
        "empty for commands and scheduled work.",
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        # The log is read newest first, whole or by the filters of the API or the admin: each
        # filter, and a project or environment with an action or object type, leads an index
        # that ends in the list's order, so a page reads its 50 rows and stops however many
        # millions of entries there are, even when two common values never meet (walking one of
        # their indexes would read a million entries to find none). The API's actor filter is a
        # substring (trigrams); the admin's search is by words (audit/search.py).
        indexes = [
            models.Index(fields=["at", "id"], name="audit_at"),
            models.Index(fields=["action", "at", "id"], name="audit_action_at"),
            models.Index(fields=["object_type", "at", "id"], name="audit_object_type_at"),
            models.Index(fields=["project", "at", "id"], name="audit_project_at"),
            models.Index(fields=["environment", "at", "id"], name="audit_environment_at"),
            models.Index(fields=["project", "action", "at", "id"], name="audit_project_action_at"),
            models.Index(fields=["project", "object_type", "at", "id"], name="audit_project_type_at"),
            models.Index(fields=["environment", "action", "at", "id"], name="audit_env_action_at"),
            models.Index(fields=["environment", "object_type", "at", "id"], name="audit_env_type_at"),
            GinIndex(OpClass(Upper("actor"), name="gin_trgm_ops"), name="audit_actor_trgm"),
            GinIndex(SEARCH_VECTOR, name="audit_words"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_repr}"
