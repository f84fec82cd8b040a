"""The admin's search by words (audit/search.py): a GIN index of every entry's words.

An index on an expression, not a column: nothing to write into the entries, which the
append-only trigger refuses to update, and nothing to backfill. Built concurrently, as 0003's
and 0005's, so that audited writes go on meanwhile (about 2 minutes at 10M entries).
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.contrib.postgres.search import SearchVector
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0005_indexes_for_two_filters")]

    operations = [
        AddIndexConcurrently(
            "auditentry",
            GinIndex(SearchVector("actor", "object_repr", "object_id", "reason", config="simple"), name="audit_search"),
        ),
    ]
