"""The admin's search by words (audit/search.py): a GIN index of every entry's words.

An index on an expression, not a column: nothing to write into the entries, which the
append-only trigger refuses to update, and nothing to backfill. Built concurrently, as 0003's
and 0005's, so that audited writes go on meanwhile (about 2 minutes at 10M entries). A build that
failed (cancelled, or a deadlock) leaves an invalid index of that name, which is dropped first so
that ``migrate`` can be rerun.

Then the log is analyzed: PostgreSQL gathers an expression index's statistics only when it
analyzes the table, which autovacuum does after a tenth of the log is new. Without them the
planner takes a word of 214,286 entries in 10M for 250 and, through the index with a project that
none of them are in, reads every match rather than ANDing the project's index (1,055 against
496 ms in bench/scale_audit.py). ANALYZE reads a sample (about 2 s at 10M entries) and blocks no
reads or writes.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.contrib.postgres.search import SearchVector
from django.db import migrations

DROP_INVALID = """
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid
               WHERE pg_class.relname = 'audit_words' AND NOT pg_index.indisvalid) THEN
        DROP INDEX audit_words;
    END IF;
END $$
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0006_request_id")]

    operations = [
        migrations.RunSQL(DROP_INVALID, migrations.RunSQL.noop),
        AddIndexConcurrently(
            "auditentry",
            GinIndex(
                SearchVector("actor", "object_repr", "object_id", "reason", "request_id", config="simple"),
                name="audit_words",
            ),
        ),
        migrations.RunSQL("ANALYZE audit_auditentry", migrations.RunSQL.noop),
    ]
