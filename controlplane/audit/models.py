"""The audit log: one append-only row per write, whoever made it.

Rows are never updated or deleted by the application; a database trigger (see the migration)
refuses UPDATE and DELETE so that not even a bug or a shell session can rewrite history.
"""

import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import BigIntegerField, F, Q, Value
from django.db.models.functions import Cast, StrIndex, Upper
from django.db.models.lookups import GreaterThan, In

SEARCHED_FIELDS = ("actor", "object_repr", "object_id", "reason", "request_id")
SEARCH_VECTOR = SearchVector(*SEARCHED_FIELDS, config="simple")
"""An entry's words for the search (audit/search.py), lower-cased and not stemmed (keys and names
are not English): an expression of the ``audit_search`` index, which a query repeats exactly."""
ACTOR_TRIGRAMS = OpClass(Upper("actor"), name="gin_trgm_ops")
"""The API's actor filter (a substring, ``actor_has``), as ``audit_search`` reads it."""


def has_trigram(text: str) -> bool:
    """Whether pg_trgm finds a trigram in ``LIKE '%text%'``: a word of letters and digits padded
    with two blanks where something other than the wildcard precedes it and one where something
    follows it (``ci-`` is ``ci `` and has one; ``ci`` has none)."""
    return any(
        len(word.group()) + 2 * (word.start() > 0) + (word.end() < len(text)) >= 3
        for word in re.finditer(r"[^\W_]+", text)
    )


def actor_has(text: str) -> Q | GreaterThan:
    """The entries whose actor holds ``text``, case aside. A substring with a trigram is matched
    as ``audit_search`` reads it (LIKE, on the actor's trigrams); one without (``ci``) would make
    it read that column's whole part, every entry (17 s with a word at 10M entries), so it is
    compared in a way the index cannot use: it then serves the word and the other filters, and
    the actor is checked on the entries they give."""
    if has_trigram(text):
        return Q(actor__icontains=text)
    return GreaterThan(StrIndex(Upper("actor"), Upper(Value(text))), 0)


def among(field: str, ids: Iterable[int | str]) -> In:
    """The entries whose ``field`` (``"project"`` or ``"environment"``) is one of ``ids``, each
    written as a bigint, the column's type: btree_gin compares a column with its own type only, so
    ``audit_search`` reads ``project_id IN (2::bigint)`` but not ``project_id = 2`` (an integer).
    For a search only: a list without one reads its btree indexes, which stop after its page, and
    given the choice PostgreSQL took the GIN index for two filters that never meet (0.2 s at 10M
    entries where their btree index finds nothing at once)."""
    return In(F(f"{field}_id"), [Cast(Value(int(pk)), BigIntegerField()) for pk in ids])


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
        # their indexes would read a million entries to find none). One GIN index holds the
        # search's words (audit/search.py), the actor's trigrams (the API's actor filter, a
        # substring) and each equality filter's value (btree_gin): a word and the filters are
        # matched inside it, so a common word in a list it never meets costs no entry read.
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
            GinIndex(
                F("project"),
                F("environment"),
                F("action"),
                F("object_type"),
                ACTOR_TRIGRAMS,
                SEARCH_VECTOR,
                name="audit_search",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_repr}"
