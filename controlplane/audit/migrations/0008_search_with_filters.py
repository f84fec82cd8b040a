"""One GIN index for the search and the filters (``audit_search``), replacing the words' index
(``audit_words``) and the actor's trigrams (``audit_actor_trgm``).

A search for a common word in a list it never meets (a project none of the word's entries are
in) finds none among the list's newest entries, so the search asks the index for every match:
with the words alone that is the word's 214,286 entries in 10M, each read from the table to
check its project (0.5 s in bench/scale_audit.py). With the project, environment, action and
object type in the same index (btree_gin: a GIN class per plain type) and the actor's trigrams,
PostgreSQL intersects the word's and the filter's entries inside the index and reads no entry of
the log. The index answers the words alone and the actor's trigrams alone as well as the two it
replaces did (a GIN index reads any subset of its columns), so they are dropped.

Built as 0007's index was: concurrently (audited writes go on meanwhile; about 5 minutes at 10M
entries, bench/scale_audit.py prints it), after dropping an invalid ``audit_search`` that a
failed build left; a valid one that a rerun finds (a later step failed) is kept. The old indexes
are dropped concurrently too, then the log is analyzed: the planner's statistics of an
expression index's values (how common each word is) belong to that index.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, BtreeGinExtension, RemoveIndexConcurrently
from django.contrib.postgres.search import SearchVector
from django.db import migrations
from django.db.models import F
from django.db.models.functions import Upper

DROP_INVALID = """
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid
               WHERE pg_class.relname = 'audit_search' AND NOT pg_index.indisvalid) THEN
        DROP INDEX audit_search;
    END IF;
END $$
"""


class AddIndexConcurrentlyOnce(AddIndexConcurrently):
    """``AddIndexConcurrently``, unless an index of that name is there (valid: DROP_INVALID ran)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'i'", [self.index.name])
            if cursor.fetchone() is None:
                super().database_forwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0007_search_index")]

    operations = [
        BtreeGinExtension(),
        migrations.RunSQL(DROP_INVALID, migrations.RunSQL.noop),
        AddIndexConcurrentlyOnce(
            "auditentry",
            GinIndex(
                F("project"),
                F("environment"),
                F("action"),
                F("object_type"),
                OpClass(Upper("actor"), name="gin_trgm_ops"),
                SearchVector("actor", "object_repr", "object_id", "reason", "request_id", config="simple"),
                name="audit_search",
            ),
        ),
        RemoveIndexConcurrently("auditentry", "audit_words"),
        RemoveIndexConcurrently("auditentry", "audit_actor_trgm"),
        migrations.RunSQL("ANALYZE audit_auditentry", migrations.RunSQL.noop),
    ]
